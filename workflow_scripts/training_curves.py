"""Rule training_curves → llmr.reporting.report.training_curves."""

from llmr.core.stage import run
from llmr.reporting.report import training_curves

run(training_curves, snakemake.log[0], metrics=list(snakemake.input), out_plot=snakemake.output[0])
