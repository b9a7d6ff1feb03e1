"""Rule reward_score → llmr.reward.reward_score (the teacher file)."""

from llmr.reward import reward_score
from llmr.stage import hyperparameters, run

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
