"""Rule bm25_index → llmr.retrieval.bm25.build_index."""

from llmr.core.stage import hyperparameters, run
from llmr.retrieval.bm25 import build_index

run(
    build_index,
    snakemake.log[0],
    passages=snakemake.input.passages,
    out_dir=snakemake.output[0],
    **hyperparameters(snakemake.params),
)
