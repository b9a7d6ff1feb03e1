# LLM scoring of candidates: scattered over shards of the training queries, then gathered.
# Change the shard count without editing anything: --set-scatter llm_score=8

from llmr.core.device import resolve_precision

# LLM precision (auto | bf16 | fp16 | fp32). "auto" is resolved ONCE, here, in the process
# that plans the run, and passed to every LLM job as a param; the environment variable
# carries the decision into cluster jobs (which re-read this file), so all jobs of a run agree.
PRECISION = (
    os.environ.setdefault("LLMR_RUN_PRECISION", resolve_precision("auto"))
    if config["precision"] == "auto"
    else resolve_precision(config["precision"])
)


scattergather:
    llm_score=config["score"]["shards"],


rule llm_score:
    input:
        candidates=lambda wc: candidates_file(wc.round),
        passages="results/data/passages.parquet",
        tasks="results/data/tasks.parquet",
        model=model_input(config["models"]["llm"]),
        reuse=lambda wc: scores_upto(int(wc.round) - 1),
    output:
        temp("results/scores/round{round}/shard_{scatteritem}.parquet"),
    log:
        "logs/score/round{round}/shard_{scatteritem}.log",
    benchmark:
        "benchmarks/score/round{round}/shard_{scatteritem}.tsv"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=240,
    params:
        model=model_param(config["models"]["llm"]),
        shard=lambda wc: int(wc.scatteritem.split("-of-")[0]) - 1,
        n_shards=lambda wc: int(wc.scatteritem.split("-of-")[1]),
        max_queries_per_task=config["score"]["max_queries_per_task"],
        n_candidates=config["score"]["n_candidates"],
        seed=config["score"]["seed"],
        max_length=config["score"]["max_length"],
        token_budget=config["score"]["token_budget"],
        precision=PRECISION,
        chunk_size=config["score"]["chunk_size"],
        code=script_code("llm_score.py"),
    script:
        "../workflow_scripts/llm_score.py"


rule gather_scores:
    input:
        gather.llm_score("results/scores/round{{round}}/shard_{scatteritem}.parquet"),
    output:
        "results/scores/round{round}.parquet",
    log:
        "logs/score/gather_round{round}.log",
    benchmark:
        "benchmarks/score/gather_round{round}.tsv"
    params:
        code=script_code("gather_scores.py"),
    script:
        "../workflow_scripts/gather_scores.py"
