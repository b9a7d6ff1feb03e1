"""Rule training_curves → llmr.report.training_curves."""

from llmr.report import training_curves
from llmr.stage import run

run(training_curves, snakemake.log[0], metrics=list(snakemake.input), out_plot=snakemake.output[0])
