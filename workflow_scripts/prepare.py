"""Rule prepare → llmr.tasks.prepare."""

from llmr.stage import hyperparameters, run
from llmr.tasks import prepare

out = snakemake.output
run(
    prepare,
    snakemake.log[0],
    source_dir=snakemake.input.source,
    out_train=out.train,
    out_test=out.test,
    out_passages=out.passages,
    out_tasks=out.tasks,
    **hyperparameters(snakemake.params),
)
