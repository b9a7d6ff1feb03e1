"""Rules train_queries / eval_queries → llmr.tasks.subsample."""

from llmr.stage import hyperparameters, run
from llmr.tasks import subsample

run(
    subsample,
    snakemake.log[0],
    examples=snakemake.input.examples,
    tasks=snakemake.input.tasks,
    out=snakemake.output[0],
    **hyperparameters(snakemake.params),
)
