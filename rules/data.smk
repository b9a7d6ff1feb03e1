# Task data: train / test / passages tables, the scored training queries, the eval subset.


rule prepare:
    input:
        source=suite_source(),
    output:
        train="results/data/train.parquet",
        test="results/data/test.parquet",
        passages="results/data/passages.parquet",
        tasks="results/data/tasks.parquet",
    log:
        "logs/data/prepare.log",
    benchmark:
        "benchmarks/data/prepare.tsv"
    params:
        **({"template": SUITE["template"]} if SUITE["source"] == "original" else {}),
        source=SUITE["source"],
        tasks=SUITE["tasks"],
        held_out=SUITE["held_out"],
        seed=SUITE["seed"],
        max_train_per_task=SUITE["max_train_per_task"],
        max_test_per_task=SUITE["max_test_per_task"],
        test_fraction=SUITE["test_fraction"],
        max_malformed_fraction=SUITE["max_malformed_fraction"],
        task_types=dict(sorted(SUITE["task_types"].items())),
        task_metrics=dict(sorted(SUITE["task_metrics"].items())),
        # the template index only matters when converting the original datasets
        code=script_code("prepare.py"),
    script:
        "../workflow_scripts/prepare.py"


rule train_queries:
    input:
        examples="results/data/train.parquet",
        tasks="results/data/tasks.parquet",
    output:
        "results/data/train_queries.parquet",
    log:
        "logs/data/train_queries.log",
    benchmark:
        "benchmarks/data/train_queries.tsv"
    params:
        max_per_task=config["teacher"]["max_queries_per_task"],
        seed=config["score"]["seed"],
        drop_held_out=True,
        code=script_code("subsample.py"),
    script:
        "../workflow_scripts/subsample.py"


rule eval_queries:
    input:
        examples="results/data/test.parquet",
        tasks="results/data/tasks.parquet",
    output:
        "results/data/test_eval.parquet",
    log:
        "logs/data/eval_queries.log",
    benchmark:
        "benchmarks/data/eval_queries.tsv"
    params:
        max_per_task=EVAL["max_test_per_task"],
        seed=EVAL["seed"],
        drop_held_out=False,
        code=script_code("subsample.py"),
    script:
        "../workflow_scripts/subsample.py"
