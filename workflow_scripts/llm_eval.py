"""Rule llm_eval → llmr.evaluation.evaluate.evaluate."""

from llmr.core.stage import hyperparameters, run
from llmr.evaluation.evaluate import evaluate

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
