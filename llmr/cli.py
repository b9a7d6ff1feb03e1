"""The ``llmr`` command: benchmarks and small utilities around the pipeline's artifacts."""

from __future__ import annotations

import argparse
import sys


def _retrieve(argv: list[str]) -> int:
    """Top-k demonstrations for ad-hoc queries with a trained retriever and its FAISS index."""
    p = argparse.ArgumentParser(prog="llmr retrieve", description=_retrieve.__doc__)
    p.add_argument("--index", required=True, help="dense index folder (results/index/<name>)")
    p.add_argument("--passages", default="results/data/passages.parquet")
    p.add_argument("--k", type=int, default=8)
    p.add_argument("query", nargs="+", help="query text(s)")
    args = p.parse_args(argv)

    import json

    import faiss
    import numpy as np

    from llmr.encoder import encode_texts, load_encoder
    from llmr.io import read_parquet

    meta = json.loads(open(f"{args.index}/meta.json").read())
    model, tok = load_encoder(meta["encoder"])
    index = faiss.read_index(f"{args.index}/index.faiss")
    q = encode_texts(model, tok, args.query, pooling=meta.get("pooling", "mean"),
                     prefix=meta.get("query_prefix", ""), progress=False)
    scores, idx = index.search(np.ascontiguousarray(q), args.k)
    passages = read_parquet(args.passages)
    for text, row_s, row_i in zip(args.query, scores, idx, strict=True):
        print(f"# {text}")
        for s, i in zip(row_s, row_i, strict=True):
            if i >= 0:
                p_row = passages.iloc[int(i)]
                print(f"{s:.4f}\t{p_row['id']}\t{p_row['contents']!r}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    usage = (
        "usage: llmr {bench retrieve|bench score|retrieve} [options]\n"
        "  llmr bench retrieve --json PATH   bm25s vs rank_bm25, FAISS vs torch top-k\n"
        "  llmr bench score --pairs N --json PATH   LLM scorer vs a plain reference loop\n"
        "  llmr retrieve --index DIR QUERY...   demonstrations for ad-hoc queries\n"
    )
    if not argv or argv[0] in ("-h", "--help"):
        print(usage)
        return 0
    if argv[:2] == ["bench", "retrieve"]:
        from llmr.bench_retrieve import main as bench_retrieve

        return bench_retrieve(argv[2:]) or 0
    if argv[:2] == ["bench", "score"]:
        from llmr.bench_score import main as bench_score

        return bench_score(argv[2:]) or 0
    if argv[0] == "retrieve":
        return _retrieve(argv[1:])
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
