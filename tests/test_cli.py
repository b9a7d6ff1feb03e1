"""The llmr command: usage, dispatch errors, ad-hoc retrieval from a built index."""

from __future__ import annotations

from llmr.cli import main
from llmr.index import build_index
from llmr.io import read_parquet


def test_usage_and_unknown_command(capsys):
    assert main(["--help"]) == 0
    assert "llmr bench retrieve" in capsys.readouterr().out
    assert main(["frobnicate"]) == 2


def test_retrieve_prints_top_k_from_the_pool(tmp_path, tiny_encoder, tiny_data, capsys):
    index = tmp_path / "index"
    build_index(encoder=tiny_encoder, passages=tiny_data["passages"], out_dir=str(index))
    pool = read_parquet(tiny_data["passages"])
    query = pool.contents.iloc[0].split("\n")[0]
    assert main(["retrieve", "--index", str(index), "--passages", tiny_data["passages"],
                 "--k", "2", query]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "\t" in ln]
    assert len(lines) == 2
    assert all(ln.split("\t")[1] in set(pool.id) for ln in lines)
    scores = [float(ln.split("\t")[0]) for ln in lines]
    assert scores == sorted(scores, reverse=True)
