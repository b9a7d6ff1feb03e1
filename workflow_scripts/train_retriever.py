"""Rules train_retriever / train_llm_kd / train_epr → llmr.training.distill.train_retriever."""

from llmr.core.stage import hyperparameters, run
from llmr.training.distill import train_retriever

i, o = snakemake.input, snakemake.output
run(
    train_retriever,
    snakemake.log[0],
    teacher=list(i.teacher),
    passages=i.passages,
    tasks=i.tasks,
    out_dir=o.model,
    metrics_out=o.metrics,
    **hyperparameters(snakemake.params),
)
