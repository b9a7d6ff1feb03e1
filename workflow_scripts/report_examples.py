"""Rule report_examples → llmr.report.examples_html."""

from llmr.report import examples_html
from llmr.stage import hyperparameters, run

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
