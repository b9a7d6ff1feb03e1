"""What ``llmr retrieve`` does (its parser is in ``llmr.cli``): demonstrations (or prompts) from
an exported retriever."""

from __future__ import annotations

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


PROMPT_SEPARATOR = "---"


def retrieve_command(
    *,
    path: str,
    queries: list[str],
    input_file: str | None,
    k: int | None,
    task: str | None,
    output_format: str,
    input_format: str,
    batch_size: int,
    device: str | None,
    verify: bool,
) -> int:
    """``llmr retrieve``: print demonstrations or prompts; exit status 2 on bad input."""
    try:
        if queries and input_file:
            raise ValueError("give --query or --input, not both")
        if queries:
            records = [{"query": q, "id": str(i)} for i, q in enumerate(queries)]
        else:
            if input_file in (None, "-"):
                if input_file is None and sys.stdin.isatty():
                    raise ValueError("no queries: give --query, --input or pipe them on stdin")
                records = parse_input(
                    _decode(sys.stdin.buffer.read(), "stdin"), "stdin", input_format
                )
            else:
                data = Path(input_file).read_bytes()
                records = parse_input(_decode(data, input_file), input_file, input_format)
            if not records:
                raise ValueError("no queries in the input")
        retriever = Retriever.load(path, device=device, verify=verify)
        texts = [r["query"] for r in records]
        tasks = [r.get("task", task) for r in records]
        demos = retriever.retrieve(texts, k, tasks, batch_size)
        prompts = [
            few_shot_prompt(rec["query"], ds) for rec, ds in zip(records, demos, strict=True)
        ]
        if output_format == "prompt" and len(prompts) > 1:
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
        if output_format == "prompt":
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
