"""Rule extract_bigbench → llmr.resources.extract_bigbench."""

from llmr.resources import extract_bigbench
from llmr.stage import hyperparameters, run

run(
    extract_bigbench,
    snakemake.log[0],
    sdist=snakemake.input[0],
    out_dir=snakemake.output[0],
    **hyperparameters(snakemake.params),
)
