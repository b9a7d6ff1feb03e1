"""Rule llm_eval → llmr.evaluate.evaluate."""

from llmr.evaluate import evaluate
from llmr.stage import hyperparameters, run

i, o, w = snakemake.input, snakemake.output, snakemake.wildcards
run(
    evaluate,
    snakemake.log[0],
    prompts=i.prompts,
    test=i.test,
    tasks=i.tasks,
    out_predictions=o.predictions,
    out_metrics=o.metrics,
    retriever=w.retriever,
    variant=w.variant,
    **hyperparameters(snakemake.params),
)
