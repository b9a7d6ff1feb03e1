"""Retrieval: candidate lists, BM25, the dense FAISS index, the oracle retrievers."""
