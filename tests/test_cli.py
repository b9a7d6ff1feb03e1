"""The llmr command: usage, version, per-command help, dispatch errors."""

from __future__ import annotations

import pytest

from llmr.bench.api import build_parser as bench_api_parser
from llmr.cli import COMMANDS, main
from llmr.export.retrieve import retrieve_parser


def test_usage_and_unknown_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "retrieve" in out and "bench" in out
    assert main(["frobnicate"]) == 2
    capsys.readouterr()
    assert main(["bench", "--help"]) == 0
    assert "queries/s of an exported retriever" in capsys.readouterr().out


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("llmr ")


@pytest.mark.parametrize("path", [("retrieve",), ("bench", "api")])
def test_command_help(path, capsys):
    with pytest.raises(SystemExit) as e:
        main([*path, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert f"llmr {' '.join(path)}" in out and "--k" in out


@pytest.mark.parametrize("parser", [retrieve_parser(), bench_api_parser()])
def test_every_option_has_help(parser):
    for action in parser._actions:
        assert action.help, action.dest


def test_registered_commands_resolve():
    import importlib

    for target, _ in COMMANDS.values():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), target


def test_retrieve_needs_an_export(tmp_path, capsys):
    (tmp_path / "index.faiss").write_bytes(b"")  # an old-style index folder is not an export
    assert main(["retrieve", str(tmp_path), "--query", "a question"]) == 2
    err = capsys.readouterr().err
    assert "not a retriever export" in err and "results/export/" in err
