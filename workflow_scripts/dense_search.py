"""Rules search_topk / eval_candidates_dense → llmr.retrieval.index.search."""

from llmr.core.stage import hyperparameters, run
from llmr.retrieval.index import search

i, o = snakemake.input, snakemake.output
run(
    search,
    snakemake.log[0],
    index_dir=i.index,
    passages=i.passages,
    queries=i.queries,
    out=o.candidates,
    run_file=o.run_file,
    **hyperparameters(snakemake.params),
)
