"""Train retrievers and write their evaluation candidates without Snakemake or FAISS.

For a machine that has torch and transformers but not the pipeline's environment (a lent
GPU, say). It calls the llmr functions behind the rules ``train_retriever`` /
``train_llm_kd`` (``llmr.training.distill.train_retriever``, hyperparameters from the config's
``retriever`` section, seed offset by ``--training-seed`` as the rules do), then encodes the
pool and the test queries as ``dense_index`` / ``eval_candidates_dense`` do and takes the
exact inner-product top ``eval.k * eval.n_retrieve_factor`` (what the pipeline's flat FAISS
index returns) through ``llmr.retrieval.candidates.run_search``. Copy OUT/eval/NAME into a run
folder's ``results/eval/NAME``; there ``snakemake --allowed-rules build_prompts llm_eval``
evaluates it like any retriever.

  python scripts/train_search.py --config config.yaml --data results/data \\
      --init resources/models/minilm --training-seed 1 --steps 600 --out OUT \\
      --job llmr1=results/teacher/round0.parquet --job llm_kd=results/scores/round0.parquet

``--data`` holds passages.parquet, tasks.parquet and test_eval.parquet.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import types
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
try:
    import faiss  # noqa: F401
except ImportError:  # llmr.retrieval.index needs FAISS only to build and search index files
    sys.modules["faiss"] = types.ModuleType("faiss")

from llmr.core.schema import training_defaults
from llmr.models.encoder import load_encoder  # noqa: E402
from llmr.retrieval.candidates import read_passages, read_queries, run_search, topk_rows  # noqa: E402
from llmr.retrieval.index import encode  # noqa: E402
from llmr.training.distill import train_retriever  # noqa: E402


def retriever_params(config: dict, training_seed: int, steps: int | None) -> dict:
    """The keyword arguments the rule train_retriever passes (``train_params`` there)."""
    p = training_defaults("retriever") | dict(config["retriever"])
    p["seed"] = p["seed"] + training_seed
    p["heldback_fraction"] = config["heldback_fraction"]
    m = config["models"]
    p |= {
        "pooling": m["pooling"],
        "query_prefix": m["query_prefix"],
        "passage_prefix": m["passage_prefix"],
    }
    if steps is not None:
        p["steps"] = steps
    return p


def search_candidates(model_dir: str, data: Path, out_dir: Path, topk: int, hp: dict) -> None:
    """Eval candidates of ``model_dir`` for test_eval.parquet (exact top-k, self excluded)."""
    pool = read_passages(str(data / "passages.parquet"))
    queries = read_queries(str(data / "test_eval.parquet"))
    model, tok = load_encoder(model_dir)
    enc = {"pooling": hp["pooling"], "max_length": hp["max_length"]}
    p_emb = encode(model, tok, pool["contents"].tolist(), prefix=hp["passage_prefix"], **enc)
    q_emb = encode(model, tok, queries["query"].tolist(), prefix=hp["query_prefix"], **enc)
    out_dir.mkdir(parents=True, exist_ok=True)
    run_search(
        queries,
        pool,
        lambda rows, k: topk_rows(q_emb[rows] @ p_emb.T, k),
        topk,
        True,
        str(out_dir / "candidates.parquet"),
        str(out_dir / "candidates.trec"),
        run_name="llmr-dense-flat",
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--data", required=True, help="folder with passages/tasks/test_eval.parquet")
    ap.add_argument("--init", required=True, help="the encoder the retrievers start from")
    ap.add_argument(
        "--job",
        action="append",
        required=True,
        metavar="NAME=TEACHER[,TEACHER]",
        help="a retriever name and the score file(s) it distils from",
    )
    ap.add_argument("--training-seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=None, help="override retriever.steps")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    config = yaml.safe_load(Path(args.config).read_text())
    hp = retriever_params(config, args.training_seed, args.steps)
    topk = config["eval"]["k"] * config["eval"]["n_retrieve_factor"]
    data, out = Path(args.data), Path(args.out)
    for job in args.job:
        name, teachers = job.split("=", 1)
        t0 = time.perf_counter()
        metrics = train_retriever(
            teachers.split(","),
            str(data / "passages.parquet"),
            str(data / "tasks.parquet"),
            args.init,
            str(out / "models" / name),
            str(out / f"{name}.metrics.json"),
            **hp,
        )
        search_candidates(str(out / "models" / name), data, out / "eval" / name, topk, hp)
        print(
            json.dumps(
                {
                    "job": name,
                    "steps": hp["steps"],
                    "seed": hp["seed"],
                    "seconds": round(time.perf_counter() - t0, 1),
                    "heldback_acc1": metrics.get("heldback_acc1"),
                    "loss_last": metrics["loss_curve"][-1] if metrics.get("loss_curve") else None,
                }
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
