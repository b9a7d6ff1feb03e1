# Reward model (cross-encoder from LLM scores) and retriever distillation (bi-encoder).


rule train_reward:
    input:
        scores=lambda wc: scores_upto(int(wc.r) - 1),
        passages="results/data/passages.parquet",
        tasks="results/data/tasks.parquet",
        init=model_input(config["models"]["reward_init"]),
    output:
        model=directory("results/models/reward{r}"),
        metrics="results/models/reward{r}.metrics.json",
    log:
        "logs/train/reward{r}.log",
    benchmark:
        "benchmarks/train/reward{r}.tsv"
    wildcard_constraints:
        r=r"[1-9]\d*",
    threads: 2
    resources:
        mem_mb=6000,
        runtime=240,
    params:
        init_model=init_param(config["models"]["reward_init"]),
        hp=train_params("reward"),
        code=script_code("train_reward.py"),
    script:
        "../workflow_scripts/train_reward.py"


rule reward_score:
    input:
        model=lambda wc: f"results/models/reward{int(wc.round) + 1}",
        candidates=lambda wc: candidates_upto(int(wc.round)),
        scores=lambda wc: scores_upto(int(wc.round)),
        passages="results/data/passages.parquet",
    output:
        "results/teacher/round{round}.parquet",
    log:
        "logs/train/reward_score_round{round}.log",
    benchmark:
        "benchmarks/train/reward_score_round{round}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        topk=config["teacher"]["topk"],
        llm_scored_only=config["teacher"]["llm_scored_only"],
        token_budget=config["teacher"]["token_budget"],
        max_length=config["reward"]["max_length"],
        precision=PRECISION,
        code=script_code("reward_score.py"),
    script:
        "../workflow_scripts/reward_score.py"


rule train_retriever:
    input:
        teacher=lambda wc: teacher_files(int(wc.r)),
        passages="results/data/passages.parquet",
        tasks="results/data/tasks.parquet",
        init=model_input(config["models"]["encoder"]),
    output:
        model=directory("results/models/retriever{r}"),
        metrics="results/models/retriever{r}.metrics.json",
    log:
        "logs/train/retriever{r}.log",
    benchmark:
        "benchmarks/train/retriever{r}.tsv"
    wildcard_constraints:
        r=r"[1-9]\d*",
    threads: 2
    resources:
        mem_mb=6000,
        runtime=240,
    params:
        init_model=init_param(config["models"]["encoder"]),
        hp=train_params("retriever", model_params()),
        code=script_code("train_retriever.py"),
    script:
        "../workflow_scripts/train_retriever.py"


# Ablation: LLM-R without the reward model (the retriever distilled from raw LLM scores).
use rule train_retriever as train_llm_kd with:
    input:
        teacher=[scores_file(0)],
        passages="results/data/passages.parquet",
        tasks="results/data/tasks.parquet",
        init=model_input(config["models"]["encoder"]),
    output:
        model=directory("results/models/llm_kd"),
        metrics="results/models/llm_kd.metrics.json",
    log:
        "logs/train/llm_kd.log",
    benchmark:
        "benchmarks/train/llm_kd.tsv"


# Baseline: EPR, a bi-encoder trained contrastively on LLM scores (no distillation).
use rule train_retriever as train_epr with:
    input:
        teacher=[scores_file(0)],
        passages="results/data/passages.parquet",
        tasks="results/data/tasks.parquet",
        init=model_input(config["models"]["encoder"]),
    output:
        model=directory("results/models/epr"),
        metrics="results/models/epr.metrics.json",
    log:
        "logs/train/epr.log",
    benchmark:
        "benchmarks/train/epr.tsv"
    params:
        init_model=init_param(config["models"]["encoder"]),
        hp=train_params("epr", model_params({"kd_weight": 0.0, "contrastive_weight": 1.0})),
        code=script_code("train_retriever.py"),


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
    log:
        "logs/eval/agreement_round{r}.log",
    benchmark:
        "benchmarks/eval/agreement_round{r}.tsv"
    threads: 2
    params:
        base_encoder=lambda wc, input: input.base or model_path(config["models"]["encoder"]),
        heldback_fraction=config["heldback_fraction"],
        pooling=model_params()["pooling"],
        query_prefix=model_params()["query_prefix"],
        passage_prefix=model_params()["passage_prefix"],
        code=script_code("agreement.py"),
    script:
        "../workflow_scripts/agreement.py"


rule agreement_table:
    input:
        [f"results/eval/agreement_round{r}.csv" for r in range(1, ROUNDS + 1)],
    output:
        report(
            "results/eval/agreement.csv",
            caption="../report/agreement.rst",
            category="Agreement with the LLM",
        ),
    log:
        "logs/eval/agreement_table.log",
    benchmark:
        "benchmarks/eval/agreement_table.tsv"
    params:
        code=script_code("concat_csv.py"),
    script:
        "../workflow_scripts/concat_csv.py"
