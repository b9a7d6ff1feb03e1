"""Rules given_candidates / given_scores / given_teacher → llmr.given.import_candidates."""

from llmr.given import import_candidates
from llmr.stage import hyperparameters, run

run(
    import_candidates,
    snakemake.log[0],
    src=snakemake.input.src,
    passages=snakemake.input.passages,
    tasks=snakemake.input.tasks,
    out=snakemake.output[0],
    **hyperparameters(snakemake.params),
)
