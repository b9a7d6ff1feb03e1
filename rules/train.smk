# Reward model (cross-encoder from LLM scores) and retriever distillation (bi-encoder).


rule train_reward:
    input:
        scores=lambda wc: scores_upto(int(wc.round) - 1),
        passages="results/data/passages.parquet",
        tasks="results/data/tasks.parquet",
        init=model_input(config["models"]["reward_init"]),
    output:
        model=directory("results/models/reward{round}"),
        metrics="results/models/reward{round}.metrics.json",
    log:
        "logs/train/reward{round}.log",
    benchmark:
        "benchmarks/train/reward{round}.tsv"
    wildcard_constraints:
        round=r"[1-9]\d*",
    threads: 2
    resources:
        mem_mb=6000,
        runtime=240,
    params:
        **train_params("reward"),
        init_model=init_param(config["models"]["reward_init"]),
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
        teacher=lambda wc: teacher_files(int(wc.round)),
        passages="results/data/passages.parquet",
        tasks="results/data/tasks.parquet",
        init=model_input(config["models"]["encoder"]),
    output:
        model=directory("results/models/llmr{round}"),
        metrics="results/models/llmr{round}.metrics.json",
    log:
        "logs/train/llmr{round}.log",
    benchmark:
        "benchmarks/train/llmr{round}.tsv"
    wildcard_constraints:
        round=r"[1-9]\d*",
    threads: 2
    resources:
        mem_mb=6000,
        runtime=240,
    params:
        **train_params("retriever", model_params()),
        init_model=init_param(config["models"]["encoder"]),
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
        **train_params("epr", model_params(epr_settings())),
        init_model=init_param(config["models"]["encoder"]),
        code=script_code("train_retriever.py"),
