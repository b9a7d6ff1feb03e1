"""Rule eval_candidates_gold → llmr.oracle.gold_label_candidates."""

from llmr.oracle import gold_label_candidates
from llmr.stage import hyperparameters, run

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
