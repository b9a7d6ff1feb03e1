"""Rule prepare → llmr.data.tasks.prepare."""

from llmr.core.stage import hyperparameters, run
from llmr.data.tasks import prepare

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
