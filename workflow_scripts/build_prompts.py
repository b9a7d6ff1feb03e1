"""Rule build_prompts → llmr.evaluation.prompts.build_prompts."""

from llmr.core.stage import hyperparameters, run
from llmr.evaluation.prompts import build_prompts

i = snakemake.input
run(
    build_prompts,
    snakemake.log[0],
    test=i.test,
    passages=i.passages,
    tasks=i.tasks,
    candidates=i.get("candidates"),
    embeddings=f"{i.index}/embeddings.npy" if "index" in i.keys() else None,
    variant=snakemake.wildcards.variant,
    out=snakemake.output[0],
    **hyperparameters(snakemake.params),
)
