"""Rule export_retriever → llmr.export.build.export_retriever."""

from llmr.core.stage import hyperparameters, run
from llmr.export.build import export_retriever

i, p = snakemake.input, snakemake.params
run(
    export_retriever,
    snakemake.log[0],
    out_dir=snakemake.output[0],
    name=snakemake.wildcards.name,
    index=i.index,
    passages=i.passages,
    tasks=i.tasks,
    summary=i.summary,
    code_fingerprint=p.code,
    **hyperparameters(p),
)
