# Evaluation: few-shot prompts per retriever and variant, LLM evaluation, summary, report.


rule build_prompts:
    input:
        unpack(prompt_inputs),
    output:
        "results/eval/{retriever}/{variant}/prompts.parquet",
    log:
        "logs/eval/prompts_{retriever}_{variant}.log",
    benchmark:
        "benchmarks/eval/prompts_{retriever}_{variant}.tsv"
    params:
        method=lambda wc: prompt_method(wc.retriever),
        k=EVAL["k"],
        n_retrieve_factor=EVAL["n_retrieve_factor"],
        seed=EVAL["seed"],
        query_prefix=config["models"]["query_prefix"],
        code=script_code("build_prompts.py"),
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
    log:
        "logs/eval/llm_eval_{retriever}_{variant}.log",
    benchmark:
        "benchmarks/eval/llm_eval_{retriever}_{variant}.tsv"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=240,
    params:
        model=model_param(config["models"]["llm"]),
        max_length=EVAL["max_length"],
        max_new_tokens=EVAL["max_new_tokens"],
        token_budget=EVAL["token_budget"],
        precision=PRECISION,
        code=script_code("llm_eval.py"),
    script:
        "../workflow_scripts/llm_eval.py"


rule summary:
    input:
        metrics=eval_metrics(),
        predictions=eval_predictions(),
        tasks="results/data/tasks.parquet",
        agreement="results/eval/agreement.csv",
    output:
        csv=report(
            "results/eval/summary.csv",
            caption="../report/summary.rst",
            category="Summary",
        ),
        md="results/eval/summary.md",
        plot=report(
            "results/eval/delta_vs_bm25.png",
            caption="../report/delta_vs_bm25.rst",
            category="Summary",
        ),
    log:
        "logs/eval/summary.log",
    benchmark:
        "benchmarks/eval/summary.tsv"
    params:
        baseline="bm25",
        n_boot=EVAL["n_boot"],
        seed=EVAL["seed"],
        code=script_code("summary.py"),
    script:
        "../workflow_scripts/summary.py"


rule training_curves:
    input:
        training_metrics(),
    output:
        report(
            "results/eval/training_curves.png",
            caption="../report/training_curves.rst",
            category="Training",
        ),
    log:
        "logs/eval/training_curves.log",
    benchmark:
        "benchmarks/eval/training_curves.tsv"
    params:
        code=script_code("training_curves.py"),
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
            caption="../report/examples.rst",
            category="Examples",
            labels={"retriever": "{retriever}", "variant": "{variant}"},
        ),
    log:
        "logs/eval/examples_{retriever}_{variant}.log",
    benchmark:
        "benchmarks/eval/examples_{retriever}_{variant}.tsv"
    params:
        n_per_task=3,
        code=script_code("report_examples.py"),
    script:
        "../workflow_scripts/report_examples.py"


# Agreement of the reward model and the retrievers with the LLM on held-back queries.
rule agreement:
    input:
        scores=lambda wc: scores_file(int(wc.round) - 1),
        passages="results/data/passages.parquet",
        base=model_input(config["models"]["encoder"]),
        reward="results/models/reward{round}",
        retriever="results/models/llmr{round}",
        bm25=lambda wc: candidates_file(0) if wc.round == "1" and not GIVEN.get("scores") else [],
    output:
        "results/eval/agreement_round{round}.csv",
    log:
        "logs/eval/agreement_round{round}.log",
    benchmark:
        "benchmarks/eval/agreement_round{round}.tsv"
    threads: 2
    params:
        base_encoder=lambda wc, input: input.base or model_path(config["models"]["encoder"]),
        heldback_fraction=config["heldback_fraction"],
        pooling=model_params()["pooling"],
        query_prefix=model_params()["query_prefix"],
        passage_prefix=model_params()["passage_prefix"],
        encode_length=encode_length("llmr"),
        # the reward model scores pairs as in rule reward_score
        max_length=config["reward"]["max_length"],
        token_budget=config["teacher"]["token_budget"],
        precision=PRECISION,
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
