"""Indexing: the `Index` facade, incremental updates, the atomic folder store, BM25, and vector stores
(FAISS in the folder, or Milvus). Takes transcript paths; gives an index on disk and its searchable view.
"""
