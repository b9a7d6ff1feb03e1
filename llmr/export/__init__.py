"""Exported retrievers: building an export and the ``Retriever`` that loads it."""
