"""Rule summary → llmr.reporting.report.summarize."""

from llmr.core.stage import hyperparameters, run
from llmr.reporting.report import summarize

i, o = snakemake.input, snakemake.output
run(
    summarize,
    snakemake.log[0],
    metrics=list(i.metrics),
    predictions=list(i.predictions),
    tasks=i.tasks,
    agreement=i.agreement,
    out_csv=o.csv,
    out_md=o.md,
    out_plot=o.plot,
    **hyperparameters(snakemake.params),
)
