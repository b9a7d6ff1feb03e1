"""Exported retrievers: export, load in a fresh process, same top-k and prompts as the pipeline."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from llmr.cli import main
from llmr.core.io import read_json, read_parquet, write_json
from llmr.core.schema import stage_defaults
from llmr.evaluation.prompts import build_prompts
from llmr.export.build import export_retriever
from llmr.export.manifest import FORMAT_VERSION, ExportError, read_manifest
from llmr.export.retriever import Retriever
from llmr.reporting.report import SUMMARY_COLUMNS
from llmr.retrieval import bm25, index

from helpers.tiny import make_tiny_encoder

K = 3
FACTOR = 5
QUERY_PREFIX, PASSAGE_PREFIX = "query: ", "passage: "


def _summary(path, names):
    rows = []
    for i, name in enumerate(names):
        for variant in ("task_filter", "no_filter"):
            rows.append(
                {
                    "retriever": name,
                    "variant": variant,
                    "task": "mean_all",
                    "category": "mean",
                    "metric": "score",
                    "value": 40.0 + i,
                    "n": 8,
                    "ci_low": float("nan"),
                    "ci_high": 50.0,
                }
            )
    pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS)).to_csv(path, index=False)
    return str(path)


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_encoder, tiny_data):
    """The pipeline's own artifacts (index, candidates, prompts) and exports made from them.

    The encoder and the index folders are deleted after exporting, so loading the exports
    proves they are self-contained.
    """
    root = tmp_path_factory.mktemp("api")
    enc = root / "encoder"
    shutil.copytree(tiny_encoder, enc)
    d = tiny_data
    summary = _summary(root / "summary.csv", ["bm25", "llmr1", "base"])
    out = {"root": root}
    for name in ("llmr1", "bm25"):
        idx = root / f"index_{name}"
        cands = str(root / f"{name}_candidates.parquet")
        if name == "bm25":
            bm25.build_index(
                passages=d["passages"], out_dir=str(idx), **stage_defaults(bm25.build_index, "bm25")
            )
            bm25.search(
                index_dir=str(idx),
                passages=d["passages"],
                queries=d["test"],
                out=cands,
                topk=K * FACTOR,
            )
        else:
            index.build_index(
                encoder=str(enc),
                passages=d["passages"],
                out_dir=str(idx),
                **stage_defaults(index.build_index, "models", "retriever")
                | {"passage_prefix": PASSAGE_PREFIX},
            )
            index.search(
                index_dir=str(idx),
                encoder=str(enc),
                passages=d["passages"],
                queries=d["test"],
                out=cands,
                **stage_defaults(index.search, "models", "retriever")
                | {"topk": K * FACTOR, "query_prefix": QUERY_PREFIX},
            )
        for variant in ("task_filter", "no_filter"):
            build_prompts(
                test=d["test"],
                passages=d["passages"],
                tasks=d["tasks"],
                out=str(root / f"{name}_{variant}.parquet"),
                method="retrieved",
                candidates=cands,
                variant=variant,
                **stage_defaults(build_prompts, "eval", "models")
                | {"k": K, "n_retrieve_factor": FACTOR, "query_prefix": QUERY_PREFIX},
            )
        export_retriever(
            out_dir=str(root / "export" / name),
            name=name,
            index=str(idx),
            passages=d["passages"],
            tasks=d["tasks"],
            encoder=None if name == "bm25" else str(enc),
            summary=summary,
            **stage_defaults(export_retriever, "eval", "models")
            | {
                "query_prefix": QUERY_PREFIX if name != "bm25" else "",
                "passage_prefix": PASSAGE_PREFIX if name != "bm25" else "",
                "k": K,
                "n_retrieve_factor": FACTOR,
            },
            config_fingerprint="cfg123",
            code_fingerprint="code45",
        )
        out[name] = {
            "candidates": read_parquet(cands),
            "export": root / "export" / name,
            **{v: read_parquet(root / f"{name}_{v}.parquet") for v in ("task_filter", "no_filter")},
        }
        shutil.rmtree(idx)
    shutil.rmtree(enc)
    return out


@pytest.fixture(scope="module")
def dense(built):
    return Retriever.load(built["llmr1"]["export"])


FRESH = textwrap.dedent("""
    import json, sys
    from llmr import Retriever
    k, queries, tasks = int(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
    out = {}
    for path in sys.argv[4:]:
        r = Retriever.load(path)
        demos = r.retrieve(queries, k=k)
        out[path] = {
            "ids": [[d.id for d in ds] for ds in demos],
            "scores": [[d.score for d in ds] for ds in demos],
            "no_filter": [r.prompt(q, k=k) for q in queries],
            "task_filter": r.prompts(queries, k=k, task=tasks),
        }
    print(json.dumps(out))
""")


def test_fresh_process_matches_pipeline_topk_and_prompts(built, tiny_data, tmp_path):
    test = read_parquet(tiny_data["test"])
    # example records: their own demonstrations are left out, as in the pipeline
    queries = test[["query", "answers", "options"]].to_dict("records")
    tasks = test["task_name"].tolist()
    # the exports also work after being moved elsewhere
    paths = {}
    for name in ("llmr1", "bm25"):
        paths[name] = str(tmp_path / f"moved_{name}")
        shutil.copytree(built[name]["export"], paths[name])
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            FRESH,
            str(K),
            json.dumps(queries),
            json.dumps(tasks),
            *paths.values(),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    got = json.loads(proc.stdout)
    for name, path in paths.items():
        res, ref = got[path], built[name]
        cands = ref["candidates"].set_index("query_id").loc[test["query_id"]]
        expected = [list(ids)[:K] for ids in cands["doc_ids"]]
        assert res["ids"] == expected, name
        assert sum(map(len, expected)) > 0
        for s, e in zip(res["scores"], cands["doc_scores"], strict=True):
            np.testing.assert_allclose(s, list(e)[:K], rtol=1e-5, atol=1e-6)
        for variant in ("task_filter", "no_filter"):
            prompts = ref[variant].set_index("query_id").loc[test["query_id"], "prompt"]
            assert res[variant] == prompts.tolist(), (name, variant)
    # the task filter changes something on this suite, so the comparison above is not vacuous
    assert any(got[p]["task_filter"] != got[p]["no_filter"] for p in paths.values())


def test_plain_query_keeps_its_own_demonstration(dense, tiny_data):
    """Self-exclusion needs the answer: a record leaves its own passage out, a string does not."""
    test = read_parquet(tiny_data["test"])
    pool_text = set(dense.pool["contents"])
    rec = next(
        r for r in test.to_dict("records") if f"{r['query']}\n{r['answers'][0]}" in pool_text
    )
    own = set(
        dense.pool.loc[dense.pool["contents"] == f"{rec['query']}\n{rec['answers'][0]}", "id"]
    )
    n = len(dense.pool)
    as_text = {d.id for d in dense.retrieve([rec["query"]], k=n)[0]}
    as_record = {d.id for d in dense.retrieve([rec], k=n)[0]}
    assert own <= as_text and not own & as_record
    assert as_record == as_text - own


def test_manifest_records_settings_and_metrics(built):
    m = read_manifest(built["llmr1"]["export"])
    assert m["format_version"] == FORMAT_VERSION and m["kind"] == "dense" and m["round"] == 1
    assert (m["query_prefix"], m["passage_prefix"], m["pooling"]) == (
        QUERY_PREFIX,
        PASSAGE_PREFIX,
        "mean",
    )
    assert m["tasks"] == ["cls_sent", "mc_pick", "gen_echo"]
    assert m["held_out_tasks"] == ["gen_echo"]
    assert (m["config_fingerprint"], m["code_fingerprint"]) == ("cfg123", "code45")
    assert {r["retriever"] for r in m["metrics"]} == {"llmr1"} and len(m["metrics"]) == 2
    assert m["metrics"][0]["value"] == 41.0 and m["metrics"][0]["ci_low"] is None
    assert {
        "passages.parquet",
        "index/index.faiss",
        "index/ids.json",
        "encoder/config.json",
    } <= set(m["files"])
    b = read_manifest(built["bm25"]["export"])
    assert b["kind"] == "bm25" and b["round"] is None and "index/ids.json" in b["files"]
    assert {r["value"] for r in b["metrics"]} == {40.0}


def test_query_prefix_is_applied(built, dense, tiny_data):
    queries = read_parquet(tiny_data["test"])["query"].tolist()[:4]
    with_prefix = [[d.score for d in ds] for ds in dense.retrieve(queries, k=K)]
    other = Retriever.load(built["llmr1"]["export"])
    other.manifest["query_prefix"] = ""
    without = [[d.score for d in ds] for ds in other.retrieve(queries, k=K)]
    assert not np.allclose(with_prefix, without)


def test_batched_equals_one_by_one(dense, tiny_data):
    test = read_parquet(tiny_data["test"])
    queries, tasks = test["query"].tolist(), test["task_name"].tolist()
    batched = dense.retrieve(queries, k=K, task=tasks, batch_size=3)
    single = [dense.retrieve([q], k=K, task=t)[0] for q, t in zip(queries, tasks, strict=True)]
    assert [[d.id for d in ds] for ds in batched] == [[d.id for d in ds] for ds in single]
    for ds, t in zip(batched, tasks, strict=True):
        assert len(ds) == K and all(d.task_name == t for d in ds)
        assert [d.score for d in ds] == sorted((d.score for d in ds), reverse=True)
    assert dense.retrieve([], k=K) == []


def _broken_copy(built, tmp_path, name="llmr1"):
    dst = tmp_path / "copy"
    shutil.copytree(built[name]["export"], dst)
    return dst


def test_load_errors(built, tmp_path):
    with pytest.raises(ExportError, match="no such folder"):
        Retriever.load(tmp_path / "missing")
    with pytest.raises(ExportError, match="not a retriever export"):
        Retriever.load(tmp_path)
    dst = _broken_copy(built, tmp_path)
    m = read_json(dst / "manifest.json")
    write_json({**m, "format_version": FORMAT_VERSION + 1}, dst / "manifest.json")
    with pytest.raises(ExportError, match=f"format version {FORMAT_VERSION + 1}"):
        Retriever.load(dst)
    write_json({**m, "format": "something-else"}, dst / "manifest.json")
    with pytest.raises(ExportError, match="not an llmr retriever manifest"):
        Retriever.load(dst)
    (dst / "manifest.json").write_bytes(b"\xff{")
    with pytest.raises(ExportError, match="not valid JSON"):
        Retriever.load(dst)
    write_json(m, dst / "manifest.json")
    ids = read_json(dst / "index" / "ids.json")
    write_json(ids[::-1], dst / "index" / "ids.json")
    with pytest.raises(ExportError, match="ids differ"):
        Retriever.load(dst)
    with pytest.raises(ExportError, match="files changed since export"):
        Retriever.load(dst, verify=True)
    (dst / "index" / "index.faiss").unlink()
    with pytest.raises(ExportError, match="missing"):
        Retriever.load(dst)


def test_query_errors(dense):
    with pytest.raises(ValueError, match="query 1 is empty"):
        dense.retrieve(["fine", "   "])
    with pytest.raises(ValueError, match="query 0 is empty"):
        dense.prompt("")
    with pytest.raises(ValueError, match="larger than the pool"):
        dense.retrieve(["a query"], k=len(dense.pool) + 1)
    with pytest.raises(ValueError, match="k must be >= 1"):
        dense.retrieve(["a query"], k=0)
    with pytest.raises(ValueError, match=r"unknown task name\(s\) \['nope'\]"):
        dense.retrieve(["a query"], task="nope")
    with pytest.raises(TypeError, match="list of strings"):
        dense.retrieve("a query")
    with pytest.raises(TypeError, match="query 0 is bytes"):
        dense.retrieve([b"a query"])
    # k equal to the pool is fine; without the filter every passage comes back once
    ds = dense.retrieve(["a query"], k=len(dense.pool))[0]
    assert sorted(d.id for d in ds) == sorted(dense.pool["id"])


def test_export_checks_index_settings(built, tiny_data, tiny_encoder, tmp_path):
    idx = tmp_path / "idx"
    index.build_index(
        encoder=tiny_encoder,
        passages=tiny_data["passages"],
        out_dir=str(idx),
        **stage_defaults(index.build_index, "models", "retriever"),
    )
    common = dict(
        name="llmr2",
        index=str(idx),
        passages=tiny_data["passages"],
        tasks=tiny_data["tasks"],
        encoder=tiny_encoder,
        **stage_defaults(export_retriever, "eval", "models"),
    )
    with pytest.raises(ExportError, match="built with mean pooling, not cls"):
        export_retriever(out_dir=str(tmp_path / "e1"), **common | {"pooling": "cls"})
    with pytest.raises(ExportError, match="passage prefix"):
        export_retriever(out_dir=str(tmp_path / "e2"), **common | {"passage_prefix": "passage: "})
    with pytest.raises(ExportError, match="neither a FAISS index"):
        export_retriever(out_dir=str(tmp_path / "e3"), **{**common, "index": str(tmp_path)})
    other = make_tiny_encoder(tmp_path / "other_encoder", seed=1)
    with pytest.raises(ExportError, match="fingerprints differ"):
        export_retriever(out_dir=str(tmp_path / "e4"), **{**common, "encoder": str(other)})
    with pytest.raises(ExportError, match="needs its encoder"):
        export_retriever(out_dir=str(tmp_path / "e5"), **{**common, "encoder": None})
    assert not any((tmp_path / f"e{i}").exists() for i in range(1, 6))


# ---------------------------------------------------------------- llmr retrieve


def test_cli_query_jsonl_and_prompt(built, dense, capsys):
    path = str(built["llmr1"]["export"])
    q = dense.pool["contents"].iloc[0].split("\n")[0]
    assert main(["retrieve", path, "--query", q, "--query", "another query", "--k", "2"]) == 0
    recs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["query"] for r in recs] == [q, "another query"]
    expected = dense.retrieve([q, "another query"], k=2)
    assert [[d["id"] for d in r["demonstrations"]] for r in recs] == [
        [d.id for d in ds] for ds in expected
    ]
    assert recs[0]["prompt"] == dense.prompt(q, k=2)
    assert (
        main(
            ["retrieve", path, "--query", q, "--k", "2", "--task", "mc_pick", "--format", "prompt"]
        )
        == 0
    )
    assert capsys.readouterr().out == dense.prompt(q, k=2, task="mc_pick")


def test_cli_input_file_and_stdin(built, dense, tmp_path, capsys, monkeypatch):
    path = str(built["llmr1"]["export"])
    f = tmp_path / "q.jsonl"
    f.write_text(
        '{"query": "first one", "task": "cls_sent", "id": "a"}\n\nplain text query\n',
        encoding="utf-8",
    )
    assert main(["retrieve", path, "--input", str(f), "--task", "mc_pick"]) == 0
    recs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["id"], r["task"]) for r in recs] == [("a", "cls_sent"), ("1", "mc_pick")]
    assert all(len(r["demonstrations"]) == K for r in recs)
    assert {d["task_name"] for d in recs[0]["demonstrations"]} == {"cls_sent"}
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"q one\nq two\n")))
    assert main(["retrieve", path, "--format", "prompt", "--k", "1"]) == 0
    assert capsys.readouterr().out == dense.prompt("q one", k=1) + "---\n" + dense.prompt(
        "q two", k=1
    )


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (b'{"query": "ok"}\n\xff\xfe bad\n', [], "not valid UTF-8 (byte 0xff on line 2)"),
        (b'{"query": "ok"\n', [], "line 1: malformed JSON"),
        (b'{"text": "no query field"}\n', [], 'needs a string field "query"'),
        (b'{"query": "  "}\n', [], "query 0 is empty"),
        (b"\n\n", [], "no queries in the input"),
        (b"fine\n", ["--task", "nope"], "unknown task name"),
        (b"fine\n", ["--k", "100000"], "larger than the pool"),
    ],
)
def test_cli_bad_input(built, tmp_path, capsys, content, args, message):
    f = tmp_path / "in.jsonl"
    f.write_bytes(content)
    assert main(["retrieve", str(built["bm25"]["export"]), "--input", str(f), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("llmr retrieve: error:") and message in err


def test_cli_not_an_export_and_stdin_bytes(tmp_path, capsys, monkeypatch):
    assert main(["retrieve", str(tmp_path), "--query", "x"]) == 2
    assert "not a retriever export" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"caf\xe9\n")))
    assert main(["retrieve", str(tmp_path)]) == 2
    assert "stdin: not valid UTF-8" in capsys.readouterr().err


def test_bm25_export_without_shared_words(built):
    r = Retriever.load(built["bm25"]["export"])
    assert r.retrieve(["zzzqqq unseen"], k=2) == [[]]  # BM25 only returns matching passages
    assert r.prompt("zzzqqq unseen", k=2) == "zzzqqq unseen\n"


def test_bench_api(built, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert (
        main(
            [
                "bench",
                "api",
                str(built["llmr1"]["export"]),
                "--queries",
                "8",
                "--single",
                "4",
                "--batch-size",
                "4",
                "--repeats",
                "1",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    res = read_json(out)
    for key in (
        "single_qps",
        "single_task_filter_qps",
        "single_prompt_qps",
        "batch_qps",
        "batch_task_filter_qps",
        "batch_prompt_qps",
        "batch_search_only_qps",
    ):
        assert res[key] > 0, key
    assert (res["n_queries_batched"], res["n_queries_single"], res["k"]) == (8, 4, K)
    assert "single_qps" in capsys.readouterr().out
