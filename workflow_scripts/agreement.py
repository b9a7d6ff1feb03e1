"""Rule agreement → llmr.evaluation.agreement.agreement."""

from llmr.core.stage import hyperparameters, run
from llmr.evaluation.agreement import agreement

i = snakemake.input
run(
    agreement,
    snakemake.log[0],
    round=int(snakemake.wildcards.round),
    scores=i.scores,
    passages=i.passages,
    reward_model=i.reward,
    retriever=i.retriever,
    bm25_candidates=i.bm25 or None,
    out=snakemake.output[0],
    **hyperparameters(snakemake.params),
)
