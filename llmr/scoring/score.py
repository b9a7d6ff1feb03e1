"""LLM-score stage: score sampled candidates of training queries with a causal LM.

For query q with gold text y and candidate d the score is the average log-prob of y's
tokens given ``d.contents + "\\n\\n" + q + "\\n"`` (``llmr.models.lm.score_continuations``, left
truncation to ``max_length``), plus ``CROSS_TASK_PENALTY`` (-100) if d comes from another task, or, for a same-task
candidate of a classification query, if its label (last line) differs from y. A pair gets
at most one penalty, as in the reference code.

Which queries are scored: every held-in query of the candidate file, or a seeded per-task
sample of ``max_queries_per_task`` of them (``scored_query_ids``); the sample depends only
on (seed, task, the task's query ids), so every round scores the same queries.

Incremental behaviour:

* shards: queries (held-out tasks dropped) sorted by ``query_id`` and split into
  ``n_shards`` contiguous slices; the candidate sample of a query depends only on
  ``(seed, query_id)``, so the union of shards equals a single-shard run.
* reuse: pairs already scored in earlier LLM-score files by the same scorer identity are
  copied, only new pairs reach the model.
* resume: pairs still to score are cut into chunks of ``chunk_size`` (fixed order); each
  scored chunk is saved under ``out + ".partial/"``; a rerun loads the finished chunks and
  scores only the rest, so the result equals an uninterrupted run.

The scorer identity (model fingerprint, prompt-format version, max_length, dtype) is stored
as JSON in the Parquet schema metadata under ``llmr_scorer``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from llmr.core.io import EXAMPLE_FIELDS, RecordError, atomic_path, read_parquet
from llmr.core.partial import PartialOutputs
from llmr.core.records import CLASSIFICATION, CROSS_TASK_PENALTY, gold_text, passage_label

log = logging.getLogger(__name__)

PROMPT_VERSION = (
    "llmr-score-v2: contents\\n\\nquery\\n -> gold text (avg log-prob), one -100 penalty at most"
)
META_KEY = b"llmr_scorer"
OUT_COLUMNS = (*EXAMPLE_FIELDS, "doc_ids", "doc_scores")


# ----------------------------------------------------------------------------- identity


def model_fingerprint(model: str) -> str:
    """Hash of a model folder's config.json and the names/sizes of its weight files.

    Hub ids (no such local folder) are identified by their name.
    """
    p = Path(model)
    if not p.exists():
        return f"hub:{model}"
    h = hashlib.sha1()
    root = p if p.is_dir() else p.parent
    cfg = root / "config.json"
    if cfg.exists():
        h.update(cfg.read_bytes())
    for f in sorted(root.iterdir()) if p.is_dir() else [p]:
        if f.suffix in (".safetensors", ".bin", ".gguf", ".pt", ".json") and f.is_file():
            h.update(f"{f.name}:{f.stat().st_size}".encode())
    return h.hexdigest()[:16]


def scorer_identity(
    model: str, max_length: int, device: str | None = None, precision: str = "auto"
) -> dict:
    """What determines a pair's LLM score (besides the pair itself)."""
    from llmr.core.device import precision_dtype

    dtype = precision_dtype(precision, device)
    return {
        "model": str(model),
        "fingerprint": model_fingerprint(model),
        "prompt": PROMPT_VERSION,
        "max_length": int(max_length),
        "dtype": str(dtype).replace("torch.", ""),
    }


def _same_scorer(a: dict | None, b: dict | None) -> bool:
    keys = ("fingerprint", "prompt", "max_length", "dtype")
    return a is not None and b is not None and all(a.get(k) == b.get(k) for k in keys)


def read_identity(path: str) -> dict | None:
    """The scorer identity stored in an LLM-score Parquet file (None if absent)."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta[META_KEY]) if META_KEY in meta else None


def _write_scores(df: pd.DataFrame, identity: dict, path: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[META_KEY] = json.dumps(identity, sort_keys=True).encode()
    with atomic_path(path) as tmp:
        pq.write_table(table.replace_schema_metadata(meta), tmp)


# ----------------------------------------------------------------------------- sampling


def shard_queries(query_ids: Sequence[str], shard: int, n_shards: int) -> list[str]:
    """Query ids of one shard: sorted ids cut into ``n_shards`` contiguous slices."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} not in [0, {n_shards})")
    ids = sorted(query_ids)
    bounds = np.linspace(0, len(ids), n_shards + 1).round().astype(int)
    return ids[bounds[shard] : bounds[shard + 1]]


def scored_query_ids(
    query_ids: Sequence[str], task_names: Sequence[str], max_per_task: int | None, seed: int
) -> list[str]:
    """Query ids to score: per task, all of them or a seeded sample of ``max_per_task``."""
    by_task: dict[str, list[str]] = {}
    for q, t in zip(query_ids, task_names, strict=True):
        by_task.setdefault(str(t), []).append(str(q))
    keep: list[str] = []
    for task in sorted(by_task):
        ids = sorted(by_task[task])
        if max_per_task is not None and len(ids) > max_per_task:
            h = hashlib.sha256(f"{seed}\0{task}".encode()).digest()
            rng = np.random.default_rng(int.from_bytes(h[:8], "little"))
            ids = [ids[i] for i in np.sort(rng.choice(len(ids), max_per_task, replace=False))]
        keep += ids
    return keep


def sample_candidates(doc_ids: Sequence[str], query_id: str, n: int, seed: int) -> list[str]:
    """n of ``doc_ids`` uniformly at random, seeded by (seed, query_id); candidate order kept."""
    if len(doc_ids) <= n:
        return list(doc_ids)
    h = hashlib.sha256(f"{seed}\0{query_id}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(h[:8], "little"))
    keep = np.sort(rng.choice(len(doc_ids), size=n, replace=False))
    return [doc_ids[i] for i in keep]


def pair_penalty(other_task: bool, classification: bool, label: str, gold: str) -> float:
    """-100 for a candidate of another task, or of the same classification task with another
    label; else 0. Never both (the reference code's rule)."""
    if other_task or (classification and label.strip() != gold.strip()):
        return CROSS_TASK_PENALTY
    return 0.0


# ----------------------------------------------------------------------------- stage


def _load_reuse(paths: Sequence[str], identity: dict) -> dict[tuple[str, str], float]:
    known: dict[tuple[str, str], float] = {}
    for p in paths:
        other = read_identity(p)
        if not _same_scorer(other, identity):
            log.warning("not reusing %s: scorer %s differs from %s", p, other, identity)
            continue
        df = read_parquet(p, columns=["query_id", "doc_ids", "doc_scores"])
        for qid, docs, scores in zip(df["query_id"], df["doc_ids"], df["doc_scores"], strict=True):
            for d, s in zip(docs, scores, strict=True):
                known.setdefault((qid, d), float(s))
    return known


def _load_partial(
    partial: PartialOutputs, chunks: list[list[tuple[str, str]]]
) -> dict[int, np.ndarray]:
    """Finished chunks of an earlier interrupted run that match the current plan."""
    done: dict[int, np.ndarray] = {}
    for name in partial.names():
        k = int(name.split("-")[1])
        df = partial.load(name)
        pairs = list(zip(df["query_id"], df["doc_id"], strict=True))
        if k < len(chunks) and pairs == chunks[k]:
            done[k] = df["score"].to_numpy(np.float32)
        else:
            log.warning("ignoring %s: it does not match the current work plan", partial.path(name))
    return done


def score_shard(
    candidates: str,
    passages: str,
    tasks: str,
    model: str,
    out: str,
    shard: int = 0,
    n_shards: int = 1,
    reuse: Sequence[str] = (),
    held_out_ok: bool = False,
    compile: bool | None = None,
    *,
    n_candidates: int,
    seed: int,
    max_length: int,
    token_budget: int,
    chunk_size: int,
    max_queries_per_task: int | None,
    precision: str,
) -> None:
    """Score one shard of a candidates table with a causal LM; write the LLM-score table.

    Output: example columns + ``doc_ids`` (the sampled candidates, in candidate order) +
    ``doc_scores`` (LLM scores incl. penalties), rows sorted by ``query_id``. ``compile``:
    ``torch.compile`` the model (None: only when more than 4096 pairs need the model).
    ``max_queries_per_task``: score a seeded sample of each task's queries (None = all).
    The settings have no defaults: the config's ``score`` section and ``precision``
    (``stage_defaults(score_shard, "score", "precision")``).
    """
    t_start = time.perf_counter()
    cand = read_parquet(candidates)
    pool = read_parquet(passages).set_index("id")
    task_tab = read_parquet(tasks).set_index("task_name")
    for col in (*EXAMPLE_FIELDS, "doc_ids"):
        if col not in cand.columns:
            raise RecordError(f"{candidates}: missing column {col}")
    dup = cand["query_id"][cand["query_id"].duplicated()]
    if len(dup):
        raise RecordError(f"{candidates}: duplicate query_id {dup.iloc[0]!r}")
    if not held_out_ok:
        held = set(task_tab.index[task_tab["held_out"].astype(bool)])
        cand = cand[~cand["task_name"].isin(held)]
    chosen = scored_query_ids(cand["query_id"], cand["task_name"], max_queries_per_task, seed)
    ids = shard_queries(chosen, shard, n_shards)
    rows = cand.set_index("query_id").loc[ids].reset_index()

    identity = scorer_identity(model, max_length, precision=precision)
    contexts: list[str] = []
    golds: list[str] = []
    keys: list[tuple[str, str]] = []
    penalties: list[float] = []
    sampled: list[list[str]] = []
    for r in rows.itertuples(index=False):
        qid = r.query_id
        y = gold_text(r.answers, r.options, where=f"{candidates}: query {qid}")
        if not y.strip():
            raise RecordError(f"{candidates}: query {qid}: empty gold answer")
        task_type = task_tab["task_type"].get(r.task_name)
        if task_type is None:
            raise RecordError(f"{tasks}: query {qid}: unknown task {r.task_name!r}")
        docs = sample_candidates(list(r.doc_ids), qid, n_candidates, seed)
        sampled.append(docs)
        for d in docs:
            if d not in pool.index:
                raise RecordError(f"{candidates}: query {qid}: doc_id {d!r} not in {passages}")
            contents, dtask = pool.at[d, "contents"], pool.at[d, "task_name"]
            pen = pair_penalty(
                dtask != r.task_name, task_type == CLASSIFICATION, passage_label(contents), y
            )
            contexts.append(f"{contents}\n\n{r.query}\n")
            golds.append(y)
            keys.append((qid, d))
            penalties.append(pen)

    known = _load_reuse(reuse, identity) if reuse else {}
    scores = np.full(len(keys), np.nan, dtype=np.float64)
    todo = []
    for i, k in enumerate(keys):
        if k in known:
            scores[i] = known[k]
        else:
            todo.append(i)
    if reuse:
        log.info("reused %d of %d pairs", len(keys) - len(todo), len(keys))

    raw = _score_resumable(
        todo,
        keys,
        contexts,
        golds,
        model,
        out,
        identity,
        max_length,
        token_budget,
        chunk_size,
        compile,
    )
    for i, s in zip(todo, raw, strict=True):
        scores[i] = float(s) + penalties[i]

    out_df = rows[list(EXAMPLE_FIELDS)].copy()
    bounds = np.cumsum([0] + [len(d) for d in sampled])
    out_df["doc_ids"] = sampled
    out_df["doc_scores"] = [
        scores[a:b].tolist() for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    _write_scores(out_df, identity, out)
    PartialOutputs(out, identity, same=_same_scorer).remove()  # every chunk is in ``out``
    log.info(
        "wrote %s: %d queries, %d pairs (%d scored by the model) in %.1fs",
        out,
        len(out_df),
        len(keys),
        len(todo),
        time.perf_counter() - t_start,
    )


def _score_resumable(
    todo, keys, contexts, golds, model, out, identity, max_length, token_budget, chunk_size, compile
) -> np.ndarray:
    """Raw LLM scores of pairs ``todo`` (indices), chunked and resumable. -> (len(todo),)."""
    from tqdm.auto import tqdm

    from llmr.models.lm import compile_model, load_causal_lm, score_continuations

    chunks_idx = [todo[s : s + chunk_size] for s in range(0, len(todo), chunk_size)]
    chunks = [[keys[i] for i in c] for c in chunks_idx]
    partial = PartialOutputs(out, identity, same=_same_scorer)
    done = _load_partial(partial, chunks)
    if done:
        log.info("resumed %d of %d chunks from %s", len(done), len(chunks), partial.folder)
    remaining = [k for k in range(len(chunks)) if k not in done]
    if remaining:
        lm_model, tok = load_causal_lm(model, dtype=identity["dtype"])
        n_pairs = sum(len(chunks[k]) for k in remaining)
        if compile or (compile is None and n_pairs > 4096):
            compile_model(lm_model)
        t0, n_tok = time.perf_counter(), 0
        bar = tqdm(total=n_pairs, desc="llm score", unit="pair", mininterval=10)
        for k in remaining:
            idx = chunks_idx[k]
            ctx = [contexts[i] for i in idx]
            res = score_continuations(
                lm_model,
                tok,
                ctx,
                [golds[i] for i in idx],
                max_length=max_length,
                token_budget=token_budget,
                progress=False,
            )
            n_tok += sum(len(x) for x in tok(ctx)["input_ids"]) + len(idx)
            df = pd.DataFrame(
                {
                    "query_id": [keys[i][0] for i in idx],
                    "doc_id": [keys[i][1] for i in idx],
                    "score": res,
                }
            )
            partial.save(f"chunk-{k:06d}", df)
            done[k] = res
            bar.update(len(idx))
        bar.close()
        dt = time.perf_counter() - t0
        log.info(
            "model scored %d pairs in %.1fs: %.2f pairs/s, ~%.0f tokens/s",
            n_pairs,
            dt,
            n_pairs / dt,
            n_tok / dt,
        )
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate([done[k] for k in range(len(chunks))])


def gather(shards: Sequence[str], out: str) -> None:
    """Concatenate LLM-score shards (same scorer, no duplicate query ids) atomically."""
    if not shards:
        raise ValueError("gather needs at least one shard")
    identity = read_identity(shards[0])
    frames = []
    for s in shards:
        other = read_identity(s)
        if not _same_scorer(other, identity):
            raise RecordError(f"{s}: scorer {other} differs from {shards[0]}: {identity}")
        frames.append(read_parquet(s))
    df = pd.concat(frames, ignore_index=True)
    dup = df["query_id"][df["query_id"].duplicated()]
    if len(dup):
        raise RecordError(f"query_id {dup.iloc[0]!r} appears in more than one shard")
    df = df.sort_values("query_id", kind="stable").reset_index(drop=True)
    _write_scores(df, identity or {}, out)
    log.info("gathered %d shards into %s (%d queries)", len(shards), out, len(df))
