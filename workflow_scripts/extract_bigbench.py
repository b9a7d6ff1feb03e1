"""Rule extract_bigbench → llmr.data.resources.extract_bigbench."""

from llmr.core.stage import hyperparameters, run
from llmr.data.resources import extract_bigbench

run(
    extract_bigbench,
    snakemake.log[0],
    sdist=snakemake.input[0],
    out_dir=snakemake.output[0],
    **hyperparameters(snakemake.params),
)
