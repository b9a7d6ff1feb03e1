"""Rule dense_index → llmr.retrieval.index.build_index."""

from llmr.core.stage import hyperparameters, run
from llmr.retrieval.index import build_index

run(
    build_index,
    snakemake.log[0],
    passages=snakemake.input.passages,
    out_dir=snakemake.output[0],
    **hyperparameters(snakemake.params),
)
