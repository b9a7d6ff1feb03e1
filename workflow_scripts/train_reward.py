"""Rule train_reward → llmr.training.reward.train_reward."""

from llmr.core.stage import hyperparameters, run
from llmr.training.reward import train_reward

i, o = snakemake.input, snakemake.output
run(
    train_reward,
    snakemake.log[0],
    scores=list(i.scores),
    passages=i.passages,
    tasks=i.tasks,
    out_dir=o.model,
    metrics_out=o.metrics,
    **hyperparameters(snakemake.params),
)
