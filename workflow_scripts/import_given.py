"""Rules given_candidates / given_scores / given_teacher → llmr.data.given.import_candidates."""

from llmr.core.stage import hyperparameters, run
from llmr.data.given import import_candidates

run(
    import_candidates,
    snakemake.log[0],
    src=snakemake.input.src,
    passages=snakemake.input.passages,
    tasks=snakemake.input.tasks,
    out=snakemake.output[0],
    **hyperparameters(snakemake.params),
)
