# Exports: a retriever as a self-contained folder (index, encoder, pool, manifest) that
# llmr.export.retriever.Retriever loads and `llmr retrieve` serves. Built from existing artifacts by copying.


rule export_retriever:
    input:
        unpack(export_inputs),
    output:
        directory("results/export/{name}"),
    log:
        "logs/export/{name}.log",
    benchmark:
        "benchmarks/export/{name}.tsv"
    wildcard_constraints:
        name="|".join(["bm25", *DENSE]),
    params:
        encoder=lambda wc: None if wc.name == "bm25" else retriever_model(wc.name),
        k=EVAL["k"],
        n_retrieve_factor=EVAL["n_retrieve_factor"],
        pooling=model_params()["pooling"],
        query_prefix=model_params()["query_prefix"],
        passage_prefix=model_params()["passage_prefix"],
        config_fingerprint=config_fingerprint(),
        code=script_code("export_retriever.py"),
    script:
        "../workflow_scripts/export_retriever.py"
