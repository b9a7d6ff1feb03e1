# Candidate retrieval: BM25 (round 0 and evaluation) and dense FAISS search (rounds >= 1).


rule bm25_index:
    input:
        passages="results/data/passages.parquet",
    output:
        directory("results/index/bm25"),
    log:
        "logs/retrieval/bm25_index.log",
    benchmark:
        "benchmarks/retrieval/bm25_index.tsv"
    params:
        k1=config["bm25"]["k1"],
        b=config["bm25"]["b"],
        method=config["bm25"]["method"],
        stopwords=config["bm25"]["stopwords"],
        code=script_code("bm25_index.py"),
    script:
        "../workflow_scripts/bm25_index.py"


rule bm25_topk:
    input:
        index="results/index/bm25",
        passages="results/data/passages.parquet",
        queries="results/data/train_queries.parquet",
    output:
        candidates="results/candidates/round0.parquet",
        run_file="results/candidates/round0.trec",
    log:
        "logs/retrieval/bm25_topk.log",
    benchmark:
        "benchmarks/retrieval/bm25_topk.tsv"
    params:
        topk=config["bm25"]["topk"],
        exclude_self=True,
        code=script_code("bm25_search.py"),
    script:
        "../workflow_scripts/bm25_search.py"


rule dense_index:
    input:
        model=lambda wc: retriever_model_input(wc.dense),
        passages="results/data/passages.parquet",
    output:
        directory("results/index/{dense}"),
    log:
        "logs/retrieval/dense_index_{dense}.log",
    benchmark:
        "benchmarks/retrieval/dense_index_{dense}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
    params:
        encoder=lambda wc: retriever_model(wc.dense),
        index_type="flat",
        pooling=model_params()["pooling"],
        passage_prefix=model_params()["passage_prefix"],
        max_length=lambda wc: encode_length(wc.dense),
        code=script_code("dense_index.py"),
    script:
        "../workflow_scripts/dense_index.py"


rule search_topk:
    input:
        index="results/index/llmr{round}",
        model="results/models/llmr{round}",
        passages="results/data/passages.parquet",
        queries="results/data/train_queries.parquet",
    output:
        candidates="results/candidates/round{round}.parquet",
        run_file="results/candidates/round{round}.trec",
    log:
        "logs/retrieval/search_topk_round{round}.log",
    benchmark:
        "benchmarks/retrieval/search_topk_round{round}.tsv"
    wildcard_constraints:
        round=r"[1-9]\d*",
    threads: 2
    params:
        encoder=lambda wc: f"results/models/llmr{wc.round}",
        topk=config["bm25"]["topk"],
        exclude_self=True,
        pooling=model_params()["pooling"],
        query_prefix=model_params()["query_prefix"],
        max_length=encode_length("llmr"),
        code=script_code("dense_search.py"),
    script:
        "../workflow_scripts/dense_search.py"


rule eval_candidates_bm25:
    input:
        index="results/index/bm25",
        passages="results/data/passages.parquet",
        queries="results/data/test_eval.parquet",
    output:
        candidates="results/eval/bm25/candidates.parquet",
        run_file="results/eval/bm25/candidates.trec",
    log:
        "logs/eval/candidates_bm25.log",
    benchmark:
        "benchmarks/eval/candidates_bm25.tsv"
    params:
        topk=eval_topk(),
        exclude_self=True,
        code=script_code("bm25_search.py"),
    script:
        "../workflow_scripts/bm25_search.py"


rule eval_candidates_dense:
    input:
        index="results/index/{dense}",
        model=lambda wc: retriever_model_input(wc.dense),
        passages="results/data/passages.parquet",
        queries="results/data/test_eval.parquet",
    output:
        candidates="results/eval/{dense}/candidates.parquet",
        run_file="results/eval/{dense}/candidates.trec",
    log:
        "logs/eval/candidates_{dense}.log",
    benchmark:
        "benchmarks/eval/candidates_{dense}.tsv"
    threads: 2
    params:
        encoder=lambda wc: retriever_model(wc.dense),
        topk=eval_topk(),
        exclude_self=True,
        pooling=model_params()["pooling"],
        query_prefix=model_params()["query_prefix"],
        max_length=lambda wc: encode_length(wc.dense),
        code=script_code("dense_search.py"),
    script:
        "../workflow_scripts/dense_search.py"


# Reference line: demonstrations of the query's task that carry its gold label.
rule eval_candidates_gold:
    input:
        test="results/data/test_eval.parquet",
        passages="results/data/passages.parquet",
        tasks="results/data/tasks.parquet",
    output:
        candidates="results/eval/gold_label/candidates.parquet",
    log:
        "logs/eval/candidates_gold_label.log",
    benchmark:
        "benchmarks/eval/candidates_gold_label.tsv"
    params:
        topk=eval_topk(),
        seed=EVAL["seed"],
        code=script_code("gold_label_candidates.py"),
    script:
        "../workflow_scripts/gold_label_candidates.py"
