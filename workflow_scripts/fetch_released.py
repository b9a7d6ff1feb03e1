"""Rule fetch_released → llmr.tasks.hub.fetch_released."""

from llmr.stage import hyperparameters, run
from llmr.tasks.hub import fetch_released

run(
    fetch_released,
    snakemake.log[0],
    name=snakemake.wildcards.name,
    out=snakemake.output[0],
    **hyperparameters(snakemake.params),
)
