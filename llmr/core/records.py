"""Semantics of the record formats shared by every stage (docs/ARCHITECTURE.md, "Tables").

A task example: ``query_id``, ``query``, ``answers`` (list of str), ``options`` (list of
str; empty, or a single empty string, when the task is not multiple choice), ``task_name``.
Multiple-choice answers are letters (A, B, ..., Z, AA, AB, ...) indexing ``options``.
A passage (demonstration): ``id``, ``contents`` = query + "\\n" + answer text, ``task_name``.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Sequence

CLASSIFICATION = "classification"
MULTIPLE_CHOICE = "multiple_choice"
GENERATION = "generation"
TASK_TYPES = (CLASSIFICATION, MULTIPLE_CHOICE, GENERATION)

LETTERS = string.ascii_uppercase
CROSS_TASK_PENALTY = -100.0


def real_options(options: Sequence[str] | None) -> list[str]:
    """Options of a multiple-choice example; [] for the empty-list / [""] conventions."""
    if options is None:
        return []
    opts = [str(o) for o in options]
    return [] if all(o == "" for o in opts) else opts


def option_letter(index: int) -> str:
    """Letter of option ``index`` (0-based): A..Z, then AA, AB, ..., AZ, BA, ... (27 → AB)."""
    if index < 0:
        raise ValueError(f"option index {index} is negative")
    out = ""
    n = index + 1
    while n:
        n, r = divmod(n - 1, len(LETTERS))
        out = LETTERS[r] + out
    return out


def letter_index(letter: str, n_options: int, where: str = "") -> int:
    """Index of an answer letter (A..Z, AA, AB, ...); ValueError naming ``where`` if invalid."""
    s = str(letter).strip()
    idx = -1
    if s and all(c in LETTERS for c in s):
        idx = 0
        for c in s:
            idx = idx * len(LETTERS) + LETTERS.index(c) + 1
        idx -= 1
    if idx < 0 or idx >= n_options:
        raise ValueError(
            f"{where}: answer {letter!r} is not one of the {n_options} option letters "
            f"({option_letter(0)}..{option_letter(max(n_options - 1, 0))})"
        )
    return idx


def gold_text(answers: Sequence[str], options: Sequence[str] | None, where: str = "") -> str:
    """Gold answer text y: the gold option's text for multiple choice, else answers[0]."""
    if len(answers) == 0:
        raise ValueError(f"{where}: no answers")
    opts = real_options(options)
    if opts:
        return opts[letter_index(str(answers[0]), len(opts), where)]
    return str(answers[0])


def passage_contents(query: str, answer_text: str) -> str:
    """A demonstration's text: the query, a newline, then its answer."""
    return f"{query}\n{answer_text}"


def content_hash(contents: str) -> str:
    """Stable hash of a passage's contents (whitespace-normalised), for self-exclusion."""
    norm = " ".join(contents.split())
    return hashlib.sha1(norm.encode("utf-8")).hexdigest()[:16]


def query_hash(query: str, answers: Sequence[str], options: Sequence[str] | None) -> str:
    """Hash of the passage this example would become (its own demonstration)."""
    return content_hash(passage_contents(query, gold_text(answers, options)))


def passage_label(contents: str) -> str:
    """Label of a demonstration: the last line of its contents."""
    return contents.rsplit("\n", 1)[-1].strip()
