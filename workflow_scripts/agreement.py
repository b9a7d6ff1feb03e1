"""Rule agreement → llmr.agreement.agreement."""

from llmr.agreement import agreement
from llmr.stage import hyperparameters, run

i = snakemake.input
run(
    agreement,
    snakemake.log[0],
    round=int(snakemake.wildcards.r),
    scores=i.scores,
    passages=i.passages,
    reward_model=i.reward,
    retriever=i.retriever,
    bm25_candidates=i.bm25 or None,
    out=snakemake.output[0],
    **hyperparameters(snakemake.params),
)
