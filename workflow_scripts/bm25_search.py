"""Rules bm25_topk / eval_candidates_bm25 → llmr.bm25.search."""

from llmr.bm25 import search
from llmr.stage import hyperparameters, run

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
