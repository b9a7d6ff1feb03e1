# Config validation, input functions and wildcard constraints shared by every stage.
import os

from snakemake.utils import validate

from llmr.core.config_checks import check_config, check_config_files
from llmr.core.fingerprint import script_fingerprint
from llmr.core.reruns import mark_stale_outputs
from llmr.core.schema import epr_settings

check_config_files(workflow.configfiles)  # duplicate keys, YAML templating
validate(config, schema="../schemas/config.schema.yaml")
check_config(config)  # contradictory values (naming both keys), given files, package specs
# a rerun that failed leaves its output missing, and Snakemake would not rebuild what was
# built from the old one: mark those outputs' records so that they rerun
mark_stale_outputs()

SUITE = config["suite"]
ROUNDS = int(config["rounds"])
EVAL = config["eval"]
GIVEN = config["given"]
OFFLINE = config["offline_models"]


def script_code(script):
    """Hash of the llmr code behind workflow_scripts/<script>: every llmr module it imports,
    transitively (read from the imports); editing it reruns the stage and downstream."""
    return script_fingerprint(os.path.join(workflow.basedir, "workflow_scripts", script))


def is_offline(name):
    return name in OFFLINE


def model_path(name):
    """Folder or hub id of a model named in config['models']."""
    return f"resources/models/{name}" if is_offline(name) else name


def model_input(name):
    """Input for a model: its folder when the pipeline builds it or a user gives one."""
    if is_offline(name):
        return f"resources/models/{name}"
    return name if os.path.exists(name) else []


def llmr_rounds():
    return [f"llmr{r}" for r in range(1, ROUNDS + 1)]


def eval_retrievers():
    """Retriever names evaluated, in report order."""
    names = []
    for name in EVAL["retrievers"]:
        names += llmr_rounds() if name == "llmr" else [name]
    return names + list(EVAL["extra_retrievers"])


DENSE = ["base", "epr", "llm_kd", *llmr_rounds(), *EVAL["extra_retrievers"]]


def retriever_model(name):
    """Encoder folder (or hub id) behind a dense retriever name."""
    if name == "base":
        return model_path(config["models"]["encoder"])
    if name in ("epr", "llm_kd") or (name.startswith("llmr") and name[4:].isdigit()):
        return f"results/models/{name}"  # the model folder has the retriever's name
    return EVAL["extra_retrievers"][name]


def encode_length(name):
    """Tokens a dense retriever's texts are cut to: the length it trained at (EPR: the epr
    section's; LLM-R, llm_kd, the base encoder they start from and extra retrievers: the
    retriever section's)."""
    return config["epr" if name == "epr" else "retriever"]["max_length"]


def retriever_model_input(name):
    if name == "base":
        return model_input(config["models"]["encoder"])
    if name in EVAL["extra_retrievers"]:
        path = EVAL["extra_retrievers"][name]
        return path if os.path.exists(path) else []
    return retriever_model(name)


def eval_variants(retriever):
    """Zero-shot and random demonstrations do not depend on the task filter."""
    if retriever in ("zero_shot", "random", "gold_label"):
        return ["task_filter"]
    return EVAL["variants"]


def eval_metrics():
    return [
        f"results/eval/{r}/{v}/metrics.json" for r in eval_retrievers() for v in eval_variants(r)
    ]


def eval_predictions():
    return [p.replace("metrics.json", "predictions.parquet") for p in eval_metrics()]


def prompt_method(retriever):
    if retriever in ("zero_shot", "random", "kmeans"):
        return retriever
    return "retrieved"


def candidates_file(r):
    """Training candidates of round r (round 0: BM25, or the given file)."""
    if int(r) == 0 and GIVEN.get("candidates"):
        return "results/given/candidates.parquet"
    return f"results/candidates/round{r}.parquet"


def scores_file(r):
    """LLM scores of round r (round 0 may be given)."""
    if int(r) == 0 and GIVEN.get("scores"):
        return "results/given/scores.parquet"
    return f"results/scores/round{r}.parquet"


def scores_upto(r):
    """LLM score files of rounds 0..r."""
    return [scores_file(i) for i in range(r + 1)]


def model_params(extra=None):
    """Prefixes and pooling shared by every encoder stage."""
    m = config["models"]
    p = {
        "pooling": m["pooling"],
        "query_prefix": m["query_prefix"],
        "passage_prefix": m["passage_prefix"],
    }
    return p | (extra or {})


def suite_source():
    """Input of prepare: task folder(s) or the fetched released files (source hub)."""
    source = SUITE["source"]
    if source == "bigbench":
        return "resources/bigbench"
    if source == "hub":
        return [f"resources/released/{name}.jsonl.gz" for name in ("train", "test", "passages")]
    if source == "original":  # local dataset copies, or nothing: the datasets come from the hub
        return SUITE["original_dir"] or []
    return SUITE["released_dir"]


def eval_topk():
    return EVAL["k"] * EVAL["n_retrieve_factor"]


def train_params(section, extra=None):
    """Hyperparameters of a training section as keyword arguments; the seed is offset by
    ``training_seed`` (seed replicates)."""
    p = dict(config[section])
    p["seed"] = p["seed"] + config["training_seed"]
    p["heldback_fraction"] = config["heldback_fraction"]
    return dict(sorted((p | (extra or {})).items()))  # stable order: params are compared as text


def candidates_upto(r):
    """Training candidate files of rounds 0..r."""
    return [candidates_file(i) for i in range(r + 1)]


def teacher_files(r):
    """Teacher files the retriever of round r distils from."""
    if r == 1 and GIVEN.get("teacher"):
        return [f"results/given/teacher{i}.parquet" for i in range(len(GIVEN["teacher"]))]
    return [f"results/teacher/round{r - 1}.parquet"]


def prompt_inputs(wc):
    inputs = {
        "test": "results/data/test_eval.parquet",
        "passages": "results/data/passages.parquet",
        "tasks": "results/data/tasks.parquet",
    }
    if prompt_method(wc.retriever) == "retrieved":
        inputs["candidates"] = f"results/eval/{wc.retriever}/candidates.parquet"
    if wc.retriever == "kmeans":
        inputs["index"] = "results/index/base"
    return inputs


def model_param(name):
    """Param for a model: the input folder when there is one, else the hub id."""
    return lambda wc, input: input.model if input.get("model") else model_path(name)


def init_param(name):
    """Param for a training initialisation model (input 'init')."""
    return lambda wc, input: input.init if input.get("init") else model_path(name)


def training_metrics():
    """Training metrics JSONs of every trained model (for the training-curve plot)."""
    files = []
    for r in range(1, ROUNDS + 1):
        files += [
            f"results/models/reward{r}.metrics.json",
            f"results/models/llmr{r}.metrics.json",
        ]
    for name in ("epr", "llm_kd"):
        if name in EVAL["retrievers"]:
            files.append(f"results/models/{name}.metrics.json")
    return files


def report_targets():
    """Report pages: training curves and readable examples of the last LLM-R retriever."""
    last = f"llmr{ROUNDS}" if "llmr" in EVAL["retrievers"] else None
    pages = ["results/eval/training_curves.png"]
    if last:
        pages += [f"results/eval/{last}/{v}/examples.html" for v in eval_variants(last)]
    if "bm25" in EVAL["retrievers"]:
        pages.append("results/eval/bm25/task_filter/examples.html")
    return pages


def config_fingerprint():
    """Short sha1 of the whole experiment configuration (recorded in export manifests)."""
    import hashlib
    import json

    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def export_targets():
    """Exports of the evaluated BM25, base-encoder and last-round LLM-R retrievers."""
    names = [n for n in ("bm25", "base") if n in EVAL["retrievers"]]
    if "llmr" in EVAL["retrievers"]:
        names.append(f"llmr{ROUNDS}")
    return [f"results/export/{n}" for n in names]


def export_inputs(wc):
    """Built artifacts an export copies: the index, the pool, the encoder and the summary."""
    inputs = {
        "index": f"results/index/{wc.name}",
        "passages": "results/data/passages.parquet",
        "tasks": "results/data/tasks.parquet",
        "summary": "results/eval/summary.csv",
    }
    if wc.name != "bm25":
        inputs["model"] = retriever_model_input(wc.name)
    return inputs
