"""Rule dense_index → llmr.index.build_index."""

from llmr.index import build_index
from llmr.stage import hyperparameters, run

run(
    build_index,
    snakemake.log[0],
    passages=snakemake.input.passages,
    out_dir=snakemake.output[0],
    **hyperparameters(snakemake.params),
)
