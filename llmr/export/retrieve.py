"""The ``llmr retrieve`` command: demonstrations (or prompts) from an exported retriever."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from llmr.export.retriever import Retriever, few_shot_prompt

log = logging.getLogger(__name__)


def _decode(data: bytes, where: str) -> str:
    """UTF-8 text of an input; a leading byte-order mark (Windows editors) is dropped."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ValueError(
            f"{where}: not valid UTF-8 (byte 0x{data[e.start]:02x} on line {line})"
        ) from None


INPUT_FORMATS = ("auto", "jsonl", "text")


def parse_input(text: str, where: str, input_format: str = "auto") -> list[dict[str, Any]]:
    """Query records from input lines. Blank lines skip.

    ``text``: every line is a query text. ``jsonl``: every line is a JSON object with
    ``query`` (and optional ``task``, ``id``). ``auto``: a line that parses as a JSON object
    is a record, and a line that does not look like one (not starting with ``{``, or not
    JSON and without a ``"query"`` key) is query text; a line that starts like a record
    (``{"query"``...) but is not valid JSON is refused, so a typo is never searched as text.
    """
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"unknown input format {input_format!r} (one of {INPUT_FORMATS})")
    records = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if input_format == "text" or (input_format == "auto" and not line.lstrip().startswith("{")):
            rec: Any = {"query": line}
        else:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                if input_format == "auto" and '"query"' not in line:
                    rec = {"query": line}  # plain text that happens to start with "{"
                else:
                    raise ValueError(
                        f"{where}: line {lineno}: malformed JSON ({e.msg}); for "
                        "plain-text queries use --input-format text"
                    ) from None
            else:
                if not isinstance(rec, dict) or not isinstance(rec.get("query"), str):
                    raise ValueError(
                        f'{where}: line {lineno}: needs a string field "query" '
                        "(for plain-text queries use --input-format text)"
                    )
        rec.setdefault("id", str(len(records)))
        records.append(rec)
    return records


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


PROMPT_SEPARATOR = "---"


def retrieve_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llmr retrieve",
        description="Demonstrations (or ready few-shot prompts) for queries, from an exported "
        "retriever (results/export/<retriever>). Queries come from --query, "
        "--input, or stdin: one per line, as text or as a JSON object with "
        '"query" (and optional "task", "id").',
    )
    p.add_argument("path", help="export folder, e.g. results/export/llmr1")
    p.add_argument("--query", action="append", default=[], help="a query text (repeat for several)")
    p.add_argument("--input", help="file of queries (JSON lines or plain lines); '-' = stdin")
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


def retrieve_main(argv: list[str]) -> int:
    """``llmr retrieve``: print demonstrations or prompts; exit status 2 on bad input."""
    parser = retrieve_parser()
    args = parser.parse_args(argv)
    try:
        if args.query and args.input:
            raise ValueError("give --query or --input, not both")
        if args.query:
            records = [{"query": q, "id": str(i)} for i, q in enumerate(args.query)]
        else:
            if args.input in (None, "-"):
                if args.input is None and sys.stdin.isatty():
                    raise ValueError("no queries: give --query, --input or pipe them on stdin")
                records = parse_input(
                    _decode(sys.stdin.buffer.read(), "stdin"), "stdin", args.input_format
                )
            else:
                data = Path(args.input).read_bytes()
                records = parse_input(_decode(data, args.input), args.input, args.input_format)
            if not records:
                raise ValueError("no queries in the input")
        retriever = Retriever.load(args.path, device=args.device, verify=args.verify)
        queries = [r["query"] for r in records]
        tasks = [r.get("task", args.task) for r in records]
        demos = retriever.retrieve(queries, args.k, tasks, args.batch_size)
        prompts = [
            few_shot_prompt(rec["query"], ds) for rec, ds in zip(records, demos, strict=True)
        ]
        if args.format == "prompt" and len(prompts) > 1:
            for i, prompt in enumerate(prompts):
                if PROMPT_SEPARATOR in prompt.splitlines():
                    raise ValueError(
                        f"query {records[i]['id']}: its prompt holds a line "
                        f"{PROMPT_SEPARATOR!r}, the separator of --format prompt, "
                        "so the output could not be split back; use --format "
                        "jsonl (or one query per call)"
                    )
    except (ValueError, TypeError, OSError) as e:
        print(f"llmr retrieve: error: {e}", file=sys.stderr)
        return 2
    out = sys.stdout
    for i, (rec, ds) in enumerate(zip(records, demos, strict=True)):
        prompt = prompts[i]
        if args.format == "prompt":
            out.write((f"{PROMPT_SEPARATOR}\n" if i else "") + prompt)
        else:
            out.write(
                json.dumps(
                    {
                        "id": rec["id"],
                        "query": rec["query"],
                        "task": tasks[i],
                        "demonstrations": [d.to_dict() for d in ds],
                        "prompt": prompt,
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    out.flush()
    return 0
