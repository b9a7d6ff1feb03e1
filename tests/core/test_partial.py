"""PartialOutputs: finished parts kept under <out>.partial/ across reruns with the same
identity, discarded under another one."""

from __future__ import annotations

import pandas as pd

from llmr.core.partial import PartialOutputs


def test_parts_survive_a_rerun_with_the_same_identity(tmp_path):
    out = tmp_path / "scores.parquet"
    first = PartialOutputs(out, {"model": "a", "v": 1})
    first.save("chunk-000001", pd.DataFrame({"x": [1, 2]}))
    first.save("chunk-000000", pd.DataFrame({"x": [0]}))
    again = PartialOutputs(out, {"v": 1, "model": "a"})
    assert again.folder == tmp_path / "scores.parquet.partial"
    assert again.names() == ["chunk-000000", "chunk-000001"]  # sorted, no identity.json
    assert again.load("chunk-000001")["x"].tolist() == [1, 2]
    assert again.load("chunk-000002") is None
    again.remove()
    assert not again.folder.exists()


def test_another_identity_or_a_broken_identity_file_discards_the_parts(tmp_path):
    out = tmp_path / "preds.parquet"
    PartialOutputs(out, {"model": "a"}).save("task-1", pd.DataFrame({"x": [1]}))
    assert PartialOutputs(out, {"model": "b"}).names() == []
    PartialOutputs(out, {"model": "b"}).save("task-1", pd.DataFrame({"x": [1]}))
    (out.parent / "preds.parquet.partial" / "identity.json").write_text("{not json")
    assert PartialOutputs(out, {"model": "b"}).names() == []


def test_the_identity_comparison_is_the_callers(tmp_path):
    out = tmp_path / "s.parquet"
    PartialOutputs(out, {"model": "a", "note": 1}).save("p", pd.DataFrame({"x": [1]}))
    same_model = lambda saved, now: saved["model"] == now["model"]  # noqa: E731
    assert PartialOutputs(out, {"model": "a", "note": 2}, same=same_model).names() == ["p"]
