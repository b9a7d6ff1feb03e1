"""Rule report_examples → llmr.reporting.report.examples_html."""

from llmr.core.stage import hyperparameters, run
from llmr.reporting.report import examples_html

i, w = snakemake.input, snakemake.wildcards
run(
    examples_html,
    snakemake.log[0],
    predictions=i.predictions,
    prompts=i.prompts,
    passages=i.passages,
    out_html=snakemake.output[0],
    title=f"{w.retriever} ({w.variant})",
    **hyperparameters(snakemake.params),
)
