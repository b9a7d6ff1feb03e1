"""Rule llm_score → llmr.score.score_shard (one shard of the training queries)."""

from llmr.score import score_shard
from llmr.stage import hyperparameters, run

i = snakemake.input
run(
    score_shard,
    snakemake.log[0],
    candidates=i.candidates,
    passages=i.passages,
    tasks=i.tasks,
    reuse=list(i.reuse),
    out=snakemake.output[0],
    **hyperparameters(snakemake.params),
)
