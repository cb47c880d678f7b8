"""The FAISS `VectorStore`: dense rankings over the vectors kept in the index folder (rag.indexing.ann).
Takes the generation's FAISS index and vector rows; gives (row, score) rankings for rag.retrieval.search.

While an ingest is still embedding, only the first `len(matrix)` rows have vectors: rankings hold only
those rows, and a row without a vector has similarity -1 (rag.retrieval.search then relies on BM25). The
FAISS index may hold fewer rows than the matrix (checkpoints keep the graph of the one before, and the
last grows it: rag.indexing.store); the rows after its own are searched exactly.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from rag.indexing import ann
from rag.retrieval.filters import Filters


class FaissVectors:
    """Vectors of one generation: `matrix` (memory-mapped rows) and `faiss_index` (exact or HNSW)."""

    def __init__(self, faiss_index: Any, matrix: np.ndarray):
        self.faiss_index = faiss_index
        self.matrix = matrix

    def selector(self, rows: Optional[np.ndarray]) -> Any:
        """A FAISS id selector for `rows`, built once per row set and reused while a search widens."""
        if rows is None:
            return None
        import faiss   # heavy: a store that is searched has it loaded already
        return faiss.IDSelectorBatch(rows)

    def rank(self, qvec: np.ndarray, n: int, rows: Optional[np.ndarray], selector: Any, filters: Filters,
             period: Optional[tuple[str, str]]) -> list[tuple[int, float]]:
        """ann.search: exact or HNSW (efSearch >= n); a narrow row set is searched exactly over its rows.
        Rows embedded after the FAISS file's own (an ingest still embedding) are searched exactly, and the two
        rankings merged. `filters` and `period` are already applied to `rows`."""
        embedded = len(self.matrix)
        if embedded == 0:
            return []
        if rows is not None and len(rows) and rows.max() >= embedded:   # keep the rows that have vectors
            rows = rows[rows < embedded]
            if not len(rows):
                return []
        graph = int(self.faiss_index.ntotal)
        ranked: list[tuple[int, float]] = []
        in_graph = rows if rows is None or graph >= embedded else rows[rows < graph]
        if graph and (in_graph is None or len(in_graph)):
            scores, ids = ann.search(self.faiss_index, qvec, n, allowed=in_graph, vectors=self.matrix,
                                     selector=selector)
            ranked = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
        if graph < embedded:
            tail = np.arange(graph, embedded, dtype=np.int64) if rows is None else rows[rows >= graph]
            if len(tail):
                scores, ids = ann.exact_rows(qvec, n, tail, self.matrix)
                ranked = sorted(ranked + [(int(i), float(s)) for i, s in zip(ids[0], scores[0])],
                                key=lambda x: (-x[1], x[0]))[:n]
        return ranked

    def similarity(self, qvec: np.ndarray, rows: list[int]) -> np.ndarray:
        return row_similarity(self.matrix, qvec, rows)


def row_similarity(matrix: np.ndarray, qvec: np.ndarray, rows: list[int]) -> np.ndarray:
    """Cosine of each of `rows` of the index folder's float32 vectors to the query (exact); -1 for a row that
    has no vector yet."""
    rows = np.asarray(rows, dtype=np.int64)
    out = np.full(len(rows), -1.0, dtype=np.float32)
    have = rows < len(matrix)
    if have.any():
        out[have] = np.asarray(matrix[rows[have]], dtype=np.float32) @ np.asarray(qvec, dtype=np.float32).reshape(-1)
    return out
