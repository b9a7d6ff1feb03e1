"""Rules train_queries / eval_queries → llmr.data.tasks.subsample."""

from llmr.core.stage import hyperparameters, run
from llmr.data.tasks import subsample

run(
    subsample,
    snakemake.log[0],
    examples=snakemake.input.examples,
    tasks=snakemake.input.tasks,
    out=snakemake.output[0],
    **hyperparameters(snakemake.params),
)
