"""Rule eval_candidates_gold → llmr.retrieval.oracle.gold_label_candidates."""

from llmr.core.stage import hyperparameters, run
from llmr.retrieval.oracle import gold_label_candidates

i = snakemake.input
run(
    gold_label_candidates,
    snakemake.log[0],
    test=i.test,
    passages=i.passages,
    tasks=i.tasks,
    out=snakemake.output.candidates,
    **hyperparameters(snakemake.params),
)
