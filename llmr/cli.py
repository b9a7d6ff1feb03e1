"""The ``llmr`` command: one subcommand per entry of ``COMMANDS``.

Each entry maps a command path (``("bench", "score")``) to ``"module:function"`` and a one-line
help. The function takes the remaining arguments (``list[str]``), builds its own
``argparse`` parser (so ``llmr bench score --help`` shows that command's options) and
returns an exit status. Modules are imported only when their command runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import PackageNotFoundError, version

# (command path) -> ("module:function", help). Add a command by adding a line here.
COMMANDS: dict[tuple[str, ...], tuple[str, str]] = {
    ("retrieve",): (
        "llmr.export.retrieve:retrieve_main",
        "demonstrations (or prompts) from an exported retriever",
    ),
    ("bench", "retrieve"): ("llmr.bench.retrieve:main", "bm25s vs rank_bm25, FAISS vs torch top-k"),
    ("bench", "score"): ("llmr.bench.score:main", "LLM scorer vs a plain reference loop"),
    ("seeds",): (
        "llmr.reporting.seeds:main",
        "combine seed-replicate runs: seed-averaged paired CIs",
    ),
    ("compare",): (
        "llmr.reporting.report:compare_main",
        "paired CIs between any evaluations (other runs, seeds, settings)",
    ),
    ("label-share",): (
        "llmr.evaluation.agreement:label_share_main",
        "share of a ranking's top k carrying the query's gold label",
    ),
    ("results",): (
        "llmr.reporting.results:main",
        "publish seed-replicate runs as a results folder",
    ),
    ("estimate",): (
        "llmr.bench.estimate:main",
        "precision of a run and roughly how long it takes here",
    ),
    ("tasks", "check"): ("llmr.data.tasks.check:main", "which BIG-bench tasks convert, or why not"),
    ("bench", "reward"): ("llmr.bench.reward:main", "cross-encoder pair scorer vs a plain loop"),
    ("bench", "eval"): ("llmr.bench.evaluate:main", "evaluation paths vs a reference-style loop"),
    ("bench", "train"): (
        "llmr.bench.train:main",
        "reward/retriever training steps vs a Trainer-default loop",
    ),
    ("bench", "api"): ("llmr.bench.api:main", "queries/s of an exported retriever (Retriever API)"),
}


def _version() -> str:
    try:
        return version("llmr")
    except PackageNotFoundError:  # source tree without an install
        return "unknown"


def _resolve(target: str):
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def build_parser() -> argparse.ArgumentParser:
    """Top-level parser: ``--version`` and one (nested) subparser per command path."""
    parser = argparse.ArgumentParser(
        prog="llmr", description="LLM-R pipeline tools: retrieval, benchmarks, task checks."
    )
    parser.add_argument("--version", action="version", version=f"llmr {_version()}")
    groups: dict[tuple[str, ...], argparse._SubParsersAction] = {
        (): parser.add_subparsers(dest="cmd0", metavar="COMMAND")
    }
    for path, (_, help_text) in sorted(COMMANDS.items()):
        for depth in range(1, len(path)):
            prefix = path[:depth]
            if prefix not in groups:
                sub = groups[prefix[:-1]].add_parser(prefix[-1], help=f"{prefix[-1]} commands")
                groups[prefix] = sub.add_subparsers(dest=f"cmd{depth}", metavar="COMMAND")
        # the command's own parser handles its options; here it only appears in the listing
        groups[path[:-1]].add_parser(path[-1], help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for n in (3, 2, 1):
        key = tuple(argv[:n])
        if len(key) == n and key in COMMANDS:
            return int(_resolve(COMMANDS[key][0])(argv[n:]) or 0)
    parser = build_parser()
    if not argv:
        parser.print_help()
        return 0
    try:
        parser.parse_args(argv)  # prints help / version, or an error for unknown commands
    except SystemExit as e:
        return int(e.code or 0)
    parser.print_help()  # a command group without its subcommand (e.g. ``llmr bench``)
    return 2


if __name__ == "__main__":
    sys.exit(main())
