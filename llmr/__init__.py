"""llmr: learning to retrieve in-context examples for large language models (LLM-R).

``from llmr import Retriever`` loads an exported retriever (``llmr.export.retriever``); it is imported on
first use, so ``import llmr`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Retriever", "__version__"]

if TYPE_CHECKING:
    from llmr.export.retriever import Retriever


def __getattr__(name: str) -> Any:
    if name == "Retriever":
        from llmr.export.retriever import Retriever

        return Retriever
    raise AttributeError(f"module 'llmr' has no attribute {name!r}")
