# Reward model (cross-encoder from LLM scores) and retriever distillation (bi-encoder).


rule train_reward:
    input:
        scores=lambda wc: scores_upto(int(wc.r) - 1),
        train="results/data/train.parquet",
        passages="results/data/passages.parquet",
        tasks="results/data/tasks.parquet",
        init=model_input(config["models"]["reward_init"]),
    output:
        model=protected(directory("results/models/reward{r}")),
        metrics="results/models/reward{r}.metrics.json",
    wildcard_constraints:
        r=r"[1-9]\d*",
    params:
        init_model=init_param(config["models"]["reward_init"]),
        hp=train_params("reward"),
        code=fingerprint("llmr.reward", "llmr.groups", "llmr.encoder", "llmr.device"),
    log:
        "logs/train/reward{r}.log",
    benchmark:
        "benchmarks/train/reward{r}.tsv"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=240,
    conda:
        "../environment.yml"
    script:
        "../workflow_scripts/train_reward.py"


rule reward_score:
    input:
        model=lambda wc: f"results/models/reward{int(wc.round) + 1}",
        scores=lambda wc: scores_upto(int(wc.round)),
        passages="results/data/passages.parquet",
    output:
        "results/teacher/round{round}.parquet",
    params:
        max_length=config["reward"].get("max_length", 384),
        code=fingerprint("llmr.reward", "llmr.groups", "llmr.encoder", "llmr.device"),
    log:
        "logs/train/reward_score_round{round}.log",
    benchmark:
        "benchmarks/train/reward_score_round{round}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
    conda:
        "../environment.yml"
    script:
        "../workflow_scripts/reward_score.py"


rule train_retriever:
    input:
        teacher=lambda wc: teacher_files(int(wc.r)),
        train="results/data/train.parquet",
        passages="results/data/passages.parquet",
        tasks="results/data/tasks.parquet",
        init=model_input(config["models"]["encoder"]),
    output:
        model=protected(directory("results/models/retriever{r}")),
        metrics="results/models/retriever{r}.metrics.json",
    wildcard_constraints:
        r=r"[1-9]\d*",
    params:
        init_model=init_param(config["models"]["encoder"]),
        hp=train_params("retriever", model_params()),
        code=fingerprint("llmr.distill", "llmr.groups", "llmr.encoder", "llmr.device"),
    log:
        "logs/train/retriever{r}.log",
    benchmark:
        "benchmarks/train/retriever{r}.tsv"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=240,
    conda:
        "../environment.yml"
    script:
        "../workflow_scripts/train_retriever.py"


use rule train_retriever as train_epr with:
    input:
        teacher=[scores_file(0)],
        train="results/data/train.parquet",
        passages="results/data/passages.parquet",
        tasks="results/data/tasks.parquet",
        init=model_input(config["models"]["encoder"]),
    output:
        model=protected(directory("results/models/epr")),
        metrics="results/models/epr.metrics.json",
    log:
        "logs/train/epr.log",
    benchmark:
        "benchmarks/train/epr.tsv"


rule agreement:
    input:
        scores=lambda wc: scores_file(int(wc.r) - 1),
        passages="results/data/passages.parquet",
        base=model_input(config["models"]["encoder"]),
        reward="results/models/reward{r}",
        retriever="results/models/retriever{r}",
        bm25=lambda wc: candidates_file(0) if wc.r == "1" and not GIVEN.get("scores") else [],
    output:
        "results/eval/agreement_round{r}.csv",
    params:
        base_encoder=lambda wc, input: input.base or model_path(config["models"]["encoder"]),
        heldback_fraction=config.get("heldback_fraction", 0.1),
        pooling=model_params()["pooling"],
        query_prefix=model_params()["query_prefix"],
        passage_prefix=model_params()["passage_prefix"],
        code=fingerprint("llmr.agreement", "llmr.groups", "llmr.encoder"),
    log:
        "logs/eval/agreement_round{r}.log",
    benchmark:
        "benchmarks/eval/agreement_round{r}.tsv"
    threads: 2
    conda:
        "../environment.yml"
    script:
        "../workflow_scripts/agreement.py"


rule agreement_table:
    input:
        [f"results/eval/agreement_round{r}.csv" for r in range(1, ROUNDS + 1)],
    output:
        report("results/eval/agreement.csv", category="Agreement with the LLM"),
    log:
        "logs/eval/agreement_table.log",
    benchmark:
        "benchmarks/eval/agreement_table.tsv"
    conda:
        "../environment.yml"
    script:
        "../workflow_scripts/concat_csv.py"
