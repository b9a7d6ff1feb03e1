# Evaluation: few-shot prompts per retriever and variant, LLM evaluation, summary, report.


rule build_prompts:
    input:
        unpack(prompt_inputs),
    output:
        "results/eval/{retriever}/{variant}/prompts.parquet",
    params:
        method=lambda wc: prompt_method(wc.retriever),
        k=EVAL["k"],
        n_retrieve_factor=EVAL.get("n_retrieve_factor", 5),
        seed=EVAL.get("seed", 42),
        query_prefix=config["models"].get("query_prefix", ""),
        code=fingerprint("llmr.prompts"),
    log:
        "logs/eval/prompts_{retriever}_{variant}.log",
    benchmark:
        "benchmarks/eval/prompts_{retriever}_{variant}.tsv"
    script:
        "../workflow_scripts/build_prompts.py"


rule llm_eval:
    input:
        prompts="results/eval/{retriever}/{variant}/prompts.parquet",
        test="results/data/test_eval.parquet",
        tasks="results/data/tasks.parquet",
        model=model_input(config["models"]["llm"]),
    output:
        predictions="results/eval/{retriever}/{variant}/predictions.parquet",
        metrics="results/eval/{retriever}/{variant}/metrics.json",
    params:
        model=model_param(config["models"]["llm"]),
        max_length=EVAL.get("max_length", 1024),
        max_new_tokens=EVAL.get("max_new_tokens", 64),
        token_budget=EVAL.get("token_budget", 16384),
        precision=PRECISION,
        code=fingerprint("llmr.evaluate", "llmr.lm", "llmr.metrics", "llmr.device"),
    log:
        "logs/eval/llm_eval_{retriever}_{variant}.log",
    benchmark:
        "benchmarks/eval/llm_eval_{retriever}_{variant}.tsv"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=240,
    script:
        "../workflow_scripts/llm_eval.py"


rule summary:
    input:
        metrics=eval_metrics(),
        predictions=eval_predictions(),
        tasks="results/data/tasks.parquet",
        agreement="results/eval/agreement.csv",
    output:
        csv=report("results/eval/summary.csv", category="Summary"),
        md="results/eval/summary.md",
        plot=report("results/eval/delta_vs_bm25.png", category="Summary"),
    params:
        baseline="bm25",
        n_boot=EVAL.get("n_boot", 1000),
        seed=EVAL.get("seed", 42),
        code=fingerprint("llmr.report", "llmr.metrics"),
    log:
        "logs/eval/summary.log",
    benchmark:
        "benchmarks/eval/summary.tsv"
    script:
        "../workflow_scripts/summary.py"


rule training_curves:
    input:
        training_metrics(),
    output:
        report("results/eval/training_curves.png", category="Training"),
    params:
        code=fingerprint("llmr.report"),
    log:
        "logs/eval/training_curves.log",
    benchmark:
        "benchmarks/eval/training_curves.tsv"
    script:
        "../workflow_scripts/training_curves.py"


rule report_examples:
    input:
        predictions="results/eval/{retriever}/{variant}/predictions.parquet",
        prompts="results/eval/{retriever}/{variant}/prompts.parquet",
        passages="results/data/passages.parquet",
    output:
        report(
            "results/eval/{retriever}/{variant}/examples.html",
            category="Examples",
            labels={"retriever": "{retriever}", "variant": "{variant}"},
        ),
    params:
        n_per_task=3,
        code=fingerprint("llmr.report"),
    log:
        "logs/eval/examples_{retriever}_{variant}.log",
    benchmark:
        "benchmarks/eval/examples_{retriever}_{variant}.tsv"
    script:
        "../workflow_scripts/report_examples.py"
