"""Rule fetch_released → llmr.data.tasks.hub.fetch_released."""

from llmr.core.stage import hyperparameters, run
from llmr.data.tasks.hub import fetch_released

run(
    fetch_released,
    snakemake.log[0],
    name=snakemake.wildcards.name,
    out=snakemake.output[0],
    **hyperparameters(snakemake.params),
)
