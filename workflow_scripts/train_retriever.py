"""Rules train_retriever / train_llm_kd / train_epr → llmr.distill.train_retriever."""

from llmr.distill import train_retriever
from llmr.stage import run

i, o, p = snakemake.input, snakemake.output, snakemake.params
run(
    train_retriever,
    snakemake.log[0],
    teacher=list(i.teacher),
    passages=i.passages,
    tasks=i.tasks,
    init_model=p.init_model,
    out_dir=o.model,
    metrics_out=o.metrics,
    **p.hp,
)
