"""Run one pipeline stage: route logging and progress output to the rule's log file."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any


def run(func: Callable[..., Any], log_path: str | None = None, **kwargs: Any) -> Any:
    """Call ``func(**kwargs)`` with logging, stdout and stderr (tqdm) sent to ``log_path``."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    stack = contextlib.ExitStack()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if log_path:
        os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
        fh = stack.enter_context(open(log_path, "a", buffering=1))
        stack.enter_context(contextlib.redirect_stderr(fh))
        stack.enter_context(contextlib.redirect_stdout(fh))  # e.g. the Trainer's loss dicts
        handlers = [logging.StreamHandler(fh)]
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    log = logging.getLogger("llmr.core.stage")
    with stack:
        log.info(
            "%s.%s(%s)",
            func.__module__,
            func.__name__,
            ", ".join(f"{k}={v!r}" for k, v in kwargs.items()),
        )
        t0 = time.perf_counter()
        try:
            result = func(**kwargs)
        except Exception:
            log.exception("stage %s failed", func.__name__)
            raise
        log.info("done in %.1f s", time.perf_counter() - t0)
        return result


def hyperparameters(params: Any, drop: tuple[str, ...] = ("code",)) -> dict[str, Any]:
    """A rule's ``params`` as keyword arguments, without the code fingerprint."""
    return {k: v for k, v in params.items() if k not in drop}
