"""The ``llmr`` command: every command's argument parser, and the dispatch.

``COMMANDS`` maps a command path (``("bench", "score")``) to a ``Command``: the builder of
its parser (one ``_<command>_parser`` below, grouped by package), the ``"module:function"``
that does the work, a one-line help and, for a few commands, a check of the parsed values
that needs the parser (its errors exit 2 with the parser's usage). The function takes the
parsed values as keyword arguments (the parser's ``dest`` names) and returns an exit
status. A command's module is imported only when that command runs (or shows its
``--help``), so ``llmr --help`` stays fast. No other llmr module imports argparse
(``tests/test_cli.py`` checks it).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any, NamedTuple


class Command(NamedTuple):
    """One ``llmr`` command: its parser, what it runs and its line in ``llmr --help``."""

    parser: Callable[[], argparse.ArgumentParser]
    target: str  # "module:function", called with the parsed values as keyword arguments
    help: str
    check: Callable[[argparse.ArgumentParser, argparse.Namespace], None] | None = None


def _doc(module: str) -> str:
    """``module``'s docstring (importing it: its command is about to run)."""
    return importlib.import_module(module).__doc__ or ""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def named_items(
    parser: argparse.ArgumentParser, items: list[str], what: str
) -> list[tuple[str, str]]:
    """``NAME=VALUE`` command-line items as pairs; a malformed one is a parser error."""
    pairs = [tuple(item.split("=", 1)) for item in items]
    if any(len(x) != 2 for x in pairs):
        parser.error(f"each {what} is NAME={what.upper()}")
    return pairs  # type: ignore[return-value]


# ----------------------------------------------------------------------------- export


def _retrieve_parser() -> argparse.ArgumentParser:
    from llmr.export.retrieve import INPUT_FORMATS

    p = argparse.ArgumentParser(
        prog="llmr retrieve",
        description="Demonstrations (or ready few-shot prompts) for queries, from an exported "
        "retriever (results/export/<retriever>). Queries come from --query, "
        "--input, or stdin: one per line, as text or as a JSON object with "
        '"query" (and optional "task", "id").',
    )
    p.add_argument("path", help="export folder, e.g. results/export/llmr1")
    p.add_argument(
        "--query",
        dest="queries",
        metavar="QUERY",
        action="append",
        default=[],
        help="a query text (repeat for several)",
    )
    p.add_argument(
        "--input",
        dest="input_file",
        metavar="INPUT",
        help="file of queries (JSON lines or plain lines); '-' = stdin",
    )
    p.add_argument(
        "--k", type=int, default=None, help="demonstrations per query (default: the evaluation's k)"
    )
    p.add_argument(
        "--task",
        default=None,
        help='keep only demonstrations of this task (a record\'s "task" overrides)',
    )
    p.add_argument(
        "--format",
        dest="output_format",
        choices=("jsonl", "prompt"),
        default="jsonl",
        help="jsonl: one JSON object per query with its demonstrations and prompt; "
        "prompt: the raw prompts, separated by a line '---' when several",
    )
    p.add_argument(
        "--input-format",
        choices=INPUT_FORMATS,
        default="auto",
        help="auto: JSON-object lines are records, other lines query text; jsonl: "
        "records only; text: every line is a query text",
    )
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=64,
        help="queries encoded per batch (a positive integer)",
    )
    p.add_argument("--device", default=None, help="torch device for the encoder (default: auto)")
    p.add_argument("--verify", action="store_true", help="check every file's sha256 first")
    return p


# ----------------------------------------------------------------------------- reporting


def _seeds_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llmr seeds", description=_doc("llmr.reporting.seeds").split("\n")[0]
    )
    p.add_argument("run_dirs", nargs="+", help="run folders (each with results/eval/...)")
    p.add_argument("--out", required=True, help="output folder for seeds.csv / seeds.md")
    p.add_argument(
        "--tasks",
        default=None,
        help="tasks table (default: results/data/tasks.parquet of the first run)",
    )
    p.add_argument("--baseline", default="bm25", help="retriever the deltas are paired with")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples")
    return p


def _compare_parser() -> argparse.ArgumentParser:
    from llmr.reporting.report import compare

    p = argparse.ArgumentParser(prog="llmr compare", description=compare.__doc__.split("\n")[0])
    p.add_argument(
        "evals",
        nargs="+",
        metavar="NAME=FOLDER",
        help="an evaluation folder (results/eval/<retriever>/<variant>) and its name",
    )
    p.add_argument("--baseline", required=True, help="the NAME the others are paired with")
    p.add_argument("--tasks", required=True, help="results/data/tasks.parquet (held in / out)")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--csv", help="also write the rows here")
    p.add_argument(
        "--per-task", action="store_true", help="also print each task's means and deltas"
    )
    p.add_argument(
        "--families",
        action="store_true",
        help="also the means over each task type's held-in tasks (family:<type> rows)",
    )
    return p


def _check_compare(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    args.evals = named_items(p, args.evals, "folder")


def _results_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llmr results", description=_doc("llmr.reporting.results").split("\n")[0]
    )
    p.add_argument("run_dirs", nargs="*", help="seed-replicate run folders (seed 0 first)")
    p.add_argument("--out", required=True, help="results folder (e.g. docs/results)")
    p.add_argument("--command", default="", help="the command that reproduces the runs")
    p.add_argument("--config", default=None, help="the config file the runs used")
    p.add_argument("--baseline", default="bm25", help="retriever the deltas are paired with")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples")
    p.add_argument(
        "--render",
        dest="render_only",
        action="store_true",
        help="only re-render OUT/summary.md from OUT's files (no run folders)",
    )
    return p


def _check_results(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not args.render_only and not args.run_dirs:
        p.error("give run folders, or --render")


def _ablation_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llmr ablation", description="The reward-model ablation's tables (ablation.md)."
    )
    p.add_argument("ablation_dir", help="scripts/ablation.sh's OUTDIR (<variant>/seed<s>)")
    p.add_argument("--seeds-dir", required=True, help="the default run's seed<s> folders")
    p.add_argument("--out", required=True, help="results folder (ablation.csv, ablation.md)")
    p.add_argument("--variants-dir", default="config/ablation", help="the variants' overlays")
    p.add_argument("--variants", nargs="*", help="only these variants (default: all finished)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples")
    return p


# ----------------------------------------------------------------------------- evaluation


def _label_share_parser() -> argparse.ArgumentParser:
    from llmr.evaluation.agreement import label_share

    p = argparse.ArgumentParser(
        prog="llmr label-share", description=label_share.__doc__.split("\n")[0]
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="NAME=FILE",
        help="a candidate, LLM-score or teacher file (Parquet) and its name",
    )
    p.add_argument("--passages", required=True, help="results/data/passages.parquet")
    p.add_argument("--tasks", required=True, help="results/data/tasks.parquet")
    p.add_argument("--k", type=int, default=3, help="top candidates counted per query")
    p.add_argument(
        "--without-queries-of",
        metavar="FILE",
        help="count only queries absent from this file (e.g. the LLM-score file)",
    )
    return p


def _check_label_share(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    args.files = named_items(p, args.files, "file")


# ----------------------------------------------------------------------------- data


def _tasks_check_parser() -> argparse.ArgumentParser:
    from llmr.data.tasks.bigbench import DEFAULT_MAX_MALFORMED_FRACTION

    p = argparse.ArgumentParser(
        prog="llmr tasks check",
        description="Convert every BIG-bench task and subtask as the pipeline would, and list "
        "each one's type, metric and usable examples, or why it is refused.",
    )
    p.add_argument(
        "path",
        help="bigbench sdist (.tar.gz), an extracted copy, or a folder of "
        "<task>/task.json files (e.g. resources/bigbench)",
    )
    p.add_argument(
        "--json",
        dest="json_out",
        metavar="OUT",
        help="also write the rows and counts as JSON here",
    )
    p.add_argument(
        "--task",
        dest="tasks",
        action="append",
        metavar="NAME",
        help="check only this task (task or task/subtask; repeatable)",
    )
    p.add_argument(
        "--max-malformed-fraction",
        type=float,
        default=DEFAULT_MAX_MALFORMED_FRACTION,
        help="refuse a task when more than this fraction of its examples is "
        "malformed (suite.max_malformed_fraction)",
    )
    p.add_argument("--jobs", type=int, default=1, help="worker processes")
    return p


# ----------------------------------------------------------------------------- bench


def _json_out(p: argparse.ArgumentParser, text: str, required: bool = True) -> None:
    """The benchmarks' ``--json`` option (``dest`` ``json_out``: not the json module)."""
    p.add_argument("--json", dest="json_out", metavar="JSON", required=required, help=text)


def _estimate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="llmr estimate", description=_doc("llmr.bench.estimate"))
    p.add_argument("--config", action="append", default=[], help="config file(s)")
    return p


def _bench_retrieve_parser() -> argparse.ArgumentParser:
    from llmr.bench.retrieve import LARGE_TASKS, ROOT

    p = argparse.ArgumentParser(
        prog="llmr bench retrieve", description=_doc("llmr.bench.retrieve").split("\n")[0]
    )
    _json_out(p, "where to write the results (JSON)")
    p.add_argument("--pool-parquet", default=str(ROOT / "results/data/passages.parquet"))
    p.add_argument("--queries-parquet", default=str(ROOT / "results/data/train.parquet"))
    p.add_argument("--encoder", default=str(ROOT / "resources/models/minilm"))
    p.add_argument("--bigbench-dir", default=str(ROOT / "resources/bigbench"))
    p.add_argument(
        "--bigbench-sdist",
        default=str(ROOT / "resources/packages/bigbench.tar.gz"),
        help="large-pool tasks missing from --bigbench-dir are extracted from it",
    )
    p.add_argument("--bigbench-tasks", nargs="+", default=list(LARGE_TASKS))
    p.add_argument("--large-pool-size", type=int, default=40000)
    p.add_argument("--queries", type=int, default=1000, help="queries per pool")
    p.add_argument(
        "--rank-bm25-queries",
        type=int,
        default=50,
        help="queries timed with rank_bm25 (it is slow)",
    )
    p.add_argument("--topk", type=int, default=100)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    return p


def _bench_score_parser() -> argparse.ArgumentParser:
    from llmr.bench.score import DEFAULT_DATA, DEFAULT_MODEL

    p = argparse.ArgumentParser(prog="llmr bench score", description=_doc("llmr.bench.score"))
    p.add_argument("--pairs", type=int, default=512, help="number of (passage, query) pairs")
    _json_out(p, "where to write the result JSON")
    p.add_argument("--dump-pairs", default=None, help="write the pairs as JSONL input/output")
    p.add_argument("--model", default=DEFAULT_MODEL, help="causal LM folder or hub id")
    p.add_argument("--data", default=DEFAULT_DATA, help="folder with train/passages.parquet")
    p.add_argument("--token-budget", type=int, default=16384)
    p.add_argument("--max-length", type=int, default=1024)
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile (eager)")
    return p


def _bench_reward_parser() -> argparse.ArgumentParser:
    from llmr.bench.reward import DEFAULT_DATA, DEFAULT_MODEL

    p = argparse.ArgumentParser(
        prog="llmr bench reward",
        description=_doc("llmr.bench.reward"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--pairs", type=int, default=4096, help="number of (query, passage) pairs")
    _json_out(p, "where to write the result JSON")
    p.add_argument("--model", default=DEFAULT_MODEL, help="cross-encoder folder or hub id")
    p.add_argument("--data", default=DEFAULT_DATA, help="folder with train/passages.parquet")
    p.add_argument(
        "--token-budget", type=int, default=16384, help="llmr: rows x padded length per batch"
    )
    p.add_argument("--batch-size", type=int, default=64, help="plain loop batch size")
    p.add_argument("--max-length", type=int, default=384, help="pair length cap in tokens")
    p.add_argument("--precision", default="auto", help="llmr weights: auto | bf16 | fp16 | fp32")
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile llmr's model (warm-up excluded from the timing)",
    )
    return p


def _bench_eval_parser() -> argparse.ArgumentParser:
    from llmr.bench.evaluate import DEFAULT_DATA, DEFAULT_MODEL

    p = argparse.ArgumentParser(
        prog="llmr bench eval",
        description=_doc("llmr.bench.evaluate"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _json_out(p, "where to write the result JSON")
    p.add_argument("--per-task", type=int, default=20, help="test queries per task")
    p.add_argument("--k", type=int, default=8, help="demonstrations per prompt")
    p.add_argument("--model", default=DEFAULT_MODEL, help="causal LM folder or hub id")
    p.add_argument("--data", default=DEFAULT_DATA, help="folder with test/passages/tasks.parquet")
    p.add_argument(
        "--token-budget", type=int, default=16384, help="llmr: rows x padded length per batch"
    )
    p.add_argument("--batch-size", type=int, default=8, help="reference loop batch size")
    p.add_argument("--max-length", type=int, default=1024, help="prompt + answer tokens")
    p.add_argument("--max-new-tokens", type=int, default=64, help="generation length cap")
    p.add_argument("--precision", default="auto", help="auto | bf16 | fp16 | fp32 weights")
    return p


def _bench_train_parser() -> argparse.ArgumentParser:
    from llmr.bench.train import (
        ATTENTION_BUDGET,
        DEFAULT_DATA,
        DEFAULT_MODEL,
        DEFAULT_SCORES,
        PATHS,
    )

    p = argparse.ArgumentParser(
        prog="llmr bench train",
        description=_doc("llmr.bench.train"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _json_out(p, "where to write the result JSON")
    p.add_argument("--model", default=DEFAULT_MODEL, help="encoder folder or hub id (MiniLM)")
    p.add_argument("--data", default=DEFAULT_DATA, help="folder with passages/tasks.parquet")
    p.add_argument("--scores", default=DEFAULT_SCORES, help="LLM score file (groups)")
    p.add_argument("--synthetic", action="store_true", help="random-word texts, no data files")
    p.add_argument("--steps", type=int, default=2, help="timed optimizer steps per path")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps before them")
    p.add_argument("--reward-batch", type=int, default=8, help="reward groups per step")
    p.add_argument("--retriever-batch", type=int, default=16, help="retriever groups per step")
    p.add_argument("--reward-max-length", type=int, default=384)
    p.add_argument("--retriever-max-length", type=int, default=256)
    p.add_argument(
        "--token-budget",
        type=int,
        default=16384,
        help="llmr: padded tokens per micro-batch (TrainConfig.token_budget)",
    )
    p.add_argument("--models", default="reward,retriever", help="reward, retriever or both")
    p.add_argument(
        "--paths",
        default=",".join(PATHS),
        help="paths to time besides llmr: today (fast_kernels off), baseline "
        "(Trainer defaults, slow)",
    )
    p.add_argument(
        "--no-dropout",
        action="store_true",
        help="dropout off: every path then computes the same first-step loss",
    )
    p.add_argument(
        "--long-inputs",
        dest="measure_long_inputs",
        action="store_true",
        help="measure peak memory of training (--models) on 400-650-token inputs instead",
    )
    p.add_argument(
        "--long-batch-sizes",
        default="16,128",
        help="groups per step, one process each (the paper: 128)",
    )
    p.add_argument("--long-token-budgets", default="16384", help="token budgets to measure")
    p.add_argument("--long-max-length", type=int, default=384, help="reward max_length")
    p.add_argument("--long-steps", type=int, default=1, help="optimizer steps per process")
    p.add_argument(
        "--gradient-checkpointing",
        action="store_true",
        help="--long-inputs: recompute activations in the backward pass",
    )
    p.add_argument(
        "--attention-budget",
        type=int,
        default=ATTENTION_BUDGET,
        help="--long-inputs: TrainConfig.attention_budget (rows x L x L per "
        "forward chunk; 0 = never chunk)",
    )
    # internal: one memory_probe (its keyword arguments as JSON), in the process long_inputs starts
    p.add_argument("--memory-probe", dest="probe", help=argparse.SUPPRESS)
    return p


def _bench_api_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llmr bench api", description=_doc("llmr.bench.api").split("\n\n")[0]
    )
    p.add_argument("path", help="export folder, e.g. results/export/llmr1")
    p.add_argument("--queries", type=int, default=256, help="queries for the batched runs")
    p.add_argument(
        "--single",
        type=int,
        default=64,
        help="queries for the single-query runs (the first of --queries)",
    )
    p.add_argument("--batch-size", type=int, default=64, help="queries per retrieve() call")
    p.add_argument("--k", type=int, default=None, help="demonstrations (default: export's k)")
    p.add_argument("--repeats", type=int, default=3, help="passes timed; the best counts")
    p.add_argument("--device", default=None, help="torch device for the encoder (default: auto)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's choice, one per core)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the query sample")
    _json_out(p, "write the results to this JSON file", required=False)
    return p


# ----------------------------------------------------------------------------- registry

# (command path) -> Command. Add a command by adding its parser above and a line here.
COMMANDS: dict[tuple[str, ...], Command] = {
    ("retrieve",): Command(
        _retrieve_parser,
        "llmr.export.retrieve:retrieve_command",
        "demonstrations (or prompts) from an exported retriever",
    ),
    ("bench", "retrieve"): Command(
        _bench_retrieve_parser,
        "llmr.bench.retrieve:bench_retrieve_command",
        "bm25s vs rank_bm25, FAISS vs torch top-k",
    ),
    ("bench", "score"): Command(
        _bench_score_parser,
        "llmr.bench.score:bench_score_command",
        "LLM scorer vs a plain reference loop",
    ),
    ("seeds",): Command(
        _seeds_parser,
        "llmr.reporting.seeds:seeds_command",
        "combine seed-replicate runs: seed-averaged paired CIs",
    ),
    ("compare",): Command(
        _compare_parser,
        "llmr.reporting.report:compare_command",
        "paired CIs between any evaluations (other runs, seeds, settings)",
        _check_compare,
    ),
    ("label-share",): Command(
        _label_share_parser,
        "llmr.evaluation.agreement:label_share_command",
        "share of a ranking's top k carrying the query's gold label",
        _check_label_share,
    ),
    ("results",): Command(
        _results_parser,
        "llmr.reporting.results:results_command",
        "publish seed-replicate runs as a results folder",
        _check_results,
    ),
    ("ablation",): Command(
        _ablation_parser,
        "llmr.reporting.ablation:ablation_command",
        "the reward-model ablation's tables from its variant runs",
    ),
    ("estimate",): Command(
        _estimate_parser,
        "llmr.bench.estimate:estimate_command",
        "precision of a run and roughly how long it takes here",
    ),
    ("tasks", "check"): Command(
        _tasks_check_parser,
        "llmr.data.tasks.check:tasks_check_command",
        "which BIG-bench tasks convert, or why not",
    ),
    ("bench", "reward"): Command(
        _bench_reward_parser,
        "llmr.bench.reward:bench_reward_command",
        "cross-encoder pair scorer vs a plain loop",
    ),
    ("bench", "eval"): Command(
        _bench_eval_parser,
        "llmr.bench.evaluate:bench_eval_command",
        "evaluation paths vs a reference-style loop",
    ),
    ("bench", "train"): Command(
        _bench_train_parser,
        "llmr.bench.train:bench_train_command",
        "reward/retriever training steps vs a Trainer-default loop",
    ),
    ("bench", "api"): Command(
        _bench_api_parser,
        "llmr.bench.api:bench_api_command",
        "queries/s of an exported retriever (Retriever API)",
    ),
}


# ----------------------------------------------------------------------------- dispatch


def _version() -> str:
    try:
        return version("llmr")
    except PackageNotFoundError:  # source tree without an install
        return "unknown"


def resolve(target: str) -> Callable[..., Any]:
    """The function named by ``"module:function"`` (importing the module)."""
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
    for path, command in sorted(COMMANDS.items()):
        for depth in range(1, len(path)):
            prefix = path[:depth]
            if prefix not in groups:
                sub = groups[prefix[:-1]].add_parser(prefix[-1], help=f"{prefix[-1]} commands")
                groups[prefix] = sub.add_subparsers(dest=f"cmd{depth}", metavar="COMMAND")
        # the command's own parser handles its options; here it only appears in the listing
        groups[path[:-1]].add_parser(path[-1], help=command.help, add_help=False)
    return parser


def run_command(path: tuple[str, ...], argv: list[str]) -> int:
    """Parse ``argv`` with the command's parser, then run it; its exit status."""
    command = COMMANDS[path]
    parser = command.parser()
    args = parser.parse_args(argv)
    if command.check is not None:
        command.check(parser, args)
    return int(resolve(command.target)(**vars(args)) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for n in (3, 2, 1):
        key = tuple(argv[:n])
        if len(key) == n and key in COMMANDS:
            return run_command(key, argv[n:])
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
