# llmr: LLM-R (learning to retrieve in-context examples) as a Snakemake workflow.
# Stages live in rules/*.smk; logic lives in the llmr package; see docs/ARCHITECTURE.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/resources.smk"
include: "rules/data.smk"
include: "rules/retrieval.smk"
include: "rules/score.smk"
include: "rules/train.smk"
include: "rules/eval.smk"


rule all:
    input:
        "results/eval/summary.csv",
        "results/eval/agreement.csv",
    default_target: True
