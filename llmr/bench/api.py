"""``llmr bench api``: queries per second of an exported retriever (``llmr.export.retriever.Retriever``).

Queries are texts of pool passages (each passage without its last line, i.e. without its
answer), with their task for the task-filtered runs. Single-query throughput calls
``retrieve([q])`` once per query; batched throughput calls ``retrieve`` on batches of
``--batch-size``. Each figure is the best of ``--repeats`` passes after one warm-up call.
``search_only`` times encoding + index search without the demonstration selection.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from llmr.core.io import write_json

log = logging.getLogger(__name__)


def pool_queries(pool: pd.DataFrame, n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` random (query text, task) pairs: pool passages up to their last line."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(pool), size=min(n, len(pool)), replace=False)
    texts = [str(pool.at[int(r), "contents"]).rsplit("\n", 1)[0] for r in rows]
    return texts, [str(pool.at[int(r), "task_name"]) for r in rows]


def queries_per_second(fn: Callable[[], object], n_queries: int, repeats: int) -> float:
    """``n_queries`` / best wall time of ``repeats`` calls of ``fn`` (after one warm-up)."""
    fn()
    best = min(_timed(fn) for _ in range(max(1, repeats)))
    return n_queries / best


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run_bench(
    path: str,
    n_queries: int = 256,
    n_single: int = 64,
    batch_size: int = 64,
    k: int | None = None,
    repeats: int = 3,
    device: str | None = None,
    seed: int = 0,
) -> dict:
    """Measure an export's load time and single / batched queries per second (a dict)."""
    import torch

    from llmr.export.retriever import Retriever

    t0 = time.perf_counter()
    r = Retriever.load(path, device=device)
    load_s = time.perf_counter() - t0
    k = int(r.manifest["k"]) if k is None else k
    texts, tasks = pool_queries(r.pool, n_queries, seed)
    single, single_tasks = texts[:n_single], tasks[:n_single]
    n_cand = min(int(r.manifest["n_retrieve_factor"]) * k, len(r.pool))

    def batched(fn):
        return lambda: [fn(s) for s in range(0, len(texts), batch_size)]

    res = {
        "retriever": r.name,
        "kind": r.manifest["kind"],
        "n_passages": len(r.pool),
        "k": k,
        "candidates_per_query": n_cand,
        "n_queries_batched": len(texts),
        "n_queries_single": len(single),
        "batch_size": batch_size,
        "load_s": load_s,
        "single_qps": queries_per_second(
            lambda: [r.retrieve([q], k) for q in single], len(single), repeats
        ),
        "single_task_filter_qps": queries_per_second(
            lambda: [r.retrieve([q], k, t) for q, t in zip(single, single_tasks, strict=True)],
            len(single),
            repeats,
        ),
        "single_prompt_qps": queries_per_second(
            lambda: [r.prompt(q, k) for q in single], len(single), repeats
        ),
        "batch_qps": queries_per_second(
            batched(lambda s: r.retrieve(texts[s : s + batch_size], k, batch_size=batch_size)),
            len(texts),
            repeats,
        ),
        "batch_task_filter_qps": queries_per_second(
            batched(
                lambda s: r.retrieve(
                    texts[s : s + batch_size], k, tasks[s : s + batch_size], batch_size
                )
            ),
            len(texts),
            repeats,
        ),
        "batch_prompt_qps": queries_per_second(
            batched(lambda s: r.prompts(texts[s : s + batch_size], k, batch_size=batch_size)),
            len(texts),
            repeats,
        ),
        "batch_search_only_qps": queries_per_second(
            batched(lambda s: r._search(texts[s : s + batch_size], n_cand, batch_size)),
            len(texts),
            repeats,
        ),
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "processor": platform.processor() or platform.machine(),
            "device": device or ("cuda" if torch.cuda.is_available() else "cpu"),
        },
    }
    return res


def bench_api_command(
    *,
    path: str,
    queries: int,
    single: int,
    batch_size: int,
    k: int | None,
    repeats: int,
    device: str | None,
    threads: int | None,
    seed: int,
    json_out: str | None,
) -> int:
    """``llmr bench api``: run the benchmark, print a table, optionally write JSON."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    res = run_bench(path, queries, single, batch_size, k, repeats, device, seed)
    for key, value in res.items():
        if key != "machine":
            print(f"{key:24s} {value:.1f}" if isinstance(value, float) else f"{key:24s} {value}")
    if json_out:
        write_json(res, json_out)
    return 0
