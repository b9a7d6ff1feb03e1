# llmr: LLM-R (learning to retrieve in-context examples) as a Snakemake workflow.
# Stages live in rules/*.smk; logic lives in the llmr package; see docs/ARCHITECTURE.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/resources.smk"
include: "rules/data.smk"
include: "rules/given.smk"
include: "rules/retrieval.smk"
include: "rules/score.smk"
include: "rules/train.smk"
include: "rules/eval.smk"


wildcard_constraints:
    round=r"\d+",
    retriever="|".join(["zero_shot", "random", "bm25", "base", "kmeans", "epr", r"llmr\d+",
                        *EVAL.get("extra_retrievers", {})]),
    dense="|".join(["base", "epr", r"llmr\d+", *EVAL.get("extra_retrievers", {})]),
    variant="task_filter|no_filter",
    model="|".join(OFFLINE) or "none",


rule all:
    input:
        "results/eval/summary.csv",
        "results/eval/agreement.csv",
        report_targets(),
    default_target: True
