"""The llmr command: usage, version, per-command help, dispatch errors, and every parser
in llmr/cli.py."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from llmr.cli import COMMANDS, main, resolve

LLMR = Path(__file__).resolve().parents[1] / "llmr"


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


@pytest.mark.parametrize("path", [("retrieve",), ("bench", "api")])
def test_every_option_has_help(path):
    for action in COMMANDS[path].parser()._actions:
        assert action.help, action.dest


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_registered_commands_resolve_and_take_their_parsers_values(path):
    """Each command's function takes exactly its parser's values, as keyword arguments."""
    command = COMMANDS[path]
    func = resolve(command.target)
    assert callable(func), command.target
    dests = {a.dest for a in command.parser()._actions if a.dest != "help"}
    params = inspect.signature(func).parameters
    assert set(params) == dests, command.target
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())


def test_only_the_cli_imports_argparse():
    """Every argument parser lives in llmr/cli.py."""
    users = []
    for path in sorted(LLMR.rglob("*.py")):
        if path == LLMR / "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            if any(n == "argparse" or n.startswith("argparse.") for n in names):
                users.append(str(path.relative_to(LLMR.parent)))
    assert not users, f"argparse imported outside llmr/cli.py: {users}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compare", "a", "--baseline", "a", "--tasks", "t"], "each folder is NAME=FOLDER"),
        (["label-share", "a", "--passages", "p", "--tasks", "t"], "each file is NAME=FILE"),
        (["results", "--out", "nowhere"], "give run folders, or --render"),
    ],
)
def test_parser_checks_exit_2_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: llmr ") and f"llmr {argv[0]}: error: {message}\n" in err


def test_retrieve_needs_an_export(tmp_path, capsys):
    (tmp_path / "index.faiss").write_bytes(b"")  # an old-style index folder is not an export
    assert main(["retrieve", str(tmp_path), "--query", "a question"]) == 2
    err = capsys.readouterr().err
    assert "not a retriever export" in err and "results/export/" in err
