# Entry points from existing artifacts (config `given:`), e.g. the paper's released
# bm25_train.jsonl.gz (candidates), LLM score files, or kd_*.jsonl.gz teacher files.
# The DAG then starts at the right stage; each given file is validated first.


rule given_candidates:
    input:
        src=GIVEN.get("candidates") or "given-candidates-not-configured",
        passages="results/data/passages.parquet",
        tasks="results/data/tasks.parquet",
    output:
        "results/given/candidates.parquet",
    log:
        "logs/given/candidates.log",
    benchmark:
        "benchmarks/given/candidates.tsv"
    params:
        kind="candidates",
        code=script_code("import_given.py"),
    script:
        "../workflow_scripts/import_given.py"


use rule given_candidates as given_scores with:
    input:
        src=GIVEN.get("scores") or "given-scores-not-configured",
        passages="results/data/passages.parquet",
        tasks="results/data/tasks.parquet",
    output:
        "results/given/scores.parquet",
    log:
        "logs/given/scores.log",
    benchmark:
        "benchmarks/given/scores.tsv"
    params:
        kind="scores",
        code=script_code("import_given.py"),


use rule given_candidates as given_teacher with:
    input:
        src=lambda wc: GIVEN["teacher"][int(wc.i)],
        passages="results/data/passages.parquet",
        tasks="results/data/tasks.parquet",
    output:
        "results/given/teacher{i}.parquet",
    log:
        "logs/given/teacher{i}.log",
    benchmark:
        "benchmarks/given/teacher{i}.tsv"
    params:
        kind="teacher",
        code=script_code("import_given.py"),
