"""Rule summary → llmr.report.summarize."""

from llmr.report import summarize
from llmr.stage import hyperparameters, run

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
