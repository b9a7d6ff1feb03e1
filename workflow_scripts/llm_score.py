"""Rule llm_score → llmr.scoring.score.score_shard (one shard of the training queries)."""

from llmr.core.stage import hyperparameters, run
from llmr.scoring.score import score_shard

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
