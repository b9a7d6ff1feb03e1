"""llmr: learning to retrieve in-context examples for large language models (LLM-R)."""

__version__ = "0.1.0"
