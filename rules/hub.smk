# The paper's released data from the Hugging Face hub (suite.source: hub): one job per file,
# validated like a local released file. Without a reachable hub the job fails at once and
# says how to use a downloaded copy (suite.source: released, suite.released_dir).
# A local rule: on a cluster it runs where the network is, not on a compute node.


localrules:
    fetch_released,


rule fetch_released:
    output:
        "resources/released/{name}.jsonl.gz",
    log:
        "logs/resources/released_{name}.log",
    benchmark:
        "benchmarks/resources/released_{name}.tsv"
    wildcard_constraints:
        name="train|test|passages|bm25_train|kd_bm25_train|kd_it2_train",
    resources:
        mem_mb=8000,
    params:
        repo_id=SUITE["hub_repo"],
        revision=SUITE["hub_revision"],
        code=script_code("fetch_released.py"),
    script:
        "../workflow_scripts/fetch_released.py"
