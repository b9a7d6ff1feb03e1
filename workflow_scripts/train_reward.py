"""Rule train_reward → llmr.reward.train_reward."""

from llmr.reward import train_reward
from llmr.stage import run

i, o, p = snakemake.input, snakemake.output, snakemake.params
run(
    train_reward,
    snakemake.log[0],
    scores=list(i.scores),
    passages=i.passages,
    tasks=i.tasks,
    init_model=p.init_model,
    out_dir=o.model,
    metrics_out=o.metrics,
    **p.hp,
)
