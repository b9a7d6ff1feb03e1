"""The gold-label reference line: demonstrations that carry the query's gold label.

SmolLM2-size models largely copy the labels of their demonstrations, so k demonstrations of
the query's task with the query's gold label bound what a label-aware retriever can give.
``gold_label_candidates`` writes a candidates table (as a retriever would) so the ordinary
prompt and evaluation stages handle it: for a classification query, every same-task pool
passage whose label equals its gold answer, in a seeded random order; for other task types
(no label set), every same-task passage in a seeded random order (the random baseline).
The query's own passage is never a candidate.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np
import pandas as pd

from llmr.core.io import EXAMPLE_FIELDS, read_parquet, write_parquet
from llmr.core.records import CLASSIFICATION, content_hash, gold_text, passage_label, query_hash

log = logging.getLogger(__name__)


def gold_label_candidates(
    test: str, passages: str, tasks: str, out: str, *, topk: int, seed: int
) -> None:
    """Candidates table (example columns + doc_ids + doc_scores, best first) of up to
    ``topk`` gold-label demonstrations per test query (see the module docstring)."""
    tdf, pool = read_parquet(test), read_parquet(passages)
    types = dict(zip(*(read_parquet(tasks)[c] for c in ("task_name", "task_type")), strict=True))
    labels = np.asarray([passage_label(c).strip() for c in pool["contents"]], dtype=object)
    hashes = np.asarray([content_hash(c) for c in pool["contents"]], dtype=object)
    ptask = pool["task_name"].to_numpy()
    rows, n_gold = [], 0
    for rec in tdf.to_dict("records"):
        qid = str(rec["query_id"])
        own = query_hash(rec["query"], rec["answers"], rec["options"])
        ok = (ptask == rec["task_name"]) & (hashes != own)
        if types.get(rec["task_name"]) == CLASSIFICATION:
            gold = gold_text(rec["answers"], rec["options"], qid).strip()
            ok &= labels == gold
            n_gold += 1
        idx = np.flatnonzero(ok)
        h = hashlib.sha256(f"{seed}\0{qid}".encode()).digest()
        idx = np.random.default_rng(int.from_bytes(h[:8], "little")).permutation(idx)[:topk]
        rows.append(
            {
                **{k: rec[k] for k in EXAMPLE_FIELDS},
                "doc_ids": [str(pool["id"].iat[i]) for i in idx],
                "doc_scores": [float(len(idx) - j) for j in range(len(idx))],
            }
        )
    write_parquet(pd.DataFrame(rows), out)
    log.info(
        "gold-label candidates for %d test queries (%d classification) -> %s",
        len(rows),
        n_gold,
        out,
    )
