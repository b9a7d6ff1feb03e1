"""Rule reward_score → llmr.training.reward.reward_score (the teacher file)."""

from llmr.core.stage import hyperparameters, run
from llmr.training.reward import reward_score

i = snakemake.input
run(
    reward_score,
    snakemake.log[0],
    model_dir=i.model,
    candidates=list(i.candidates),
    scores=list(i.scores),
    passages=i.passages,
    out=snakemake.output[0],
    **hyperparameters(snakemake.params),
)
