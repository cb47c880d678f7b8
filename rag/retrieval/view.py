"""The declared interface between an index and retrieval: `IndexView` and the stores it is made of.
Takes nothing; gives the types `search` reads (an index builds them, retrieval never imports the index).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

import numpy as np

from rag.encoders import Encoder
from rag.records import Chunk
from rag.retrieval.filters import Columns, Filters


class LexicalScorer(Protocol):
    """BM25 over the chunk rows (rag.indexing.lexical.Lexical)."""
    n: int                                               # rows


    def scores(self, query: str) -> np.ndarray: ...      # one score per row, 0 where no query word occurs

    def knows(self, word: str) -> bool: ...

    def variants(self, stem: str, max_extra: int = 3) -> list[str]: ...   # indexed stems extending `stem`

    def stem_scores(self, stems) -> np.ndarray: ...     # scores for already-stemmed tokens

    def doc_freq(self, stem: str) -> int: ...           # rows holding an already-stemmed token

    def tokens(self, text: str) -> list[str]: ...       # text as BM25 reads it (stems, stop words dropped)


class VectorStore(Protocol):
    """Dense ranking over the chunk rows (rag.indexing.vectors: FAISS in the folder, or a Milvus collection)."""

    def selector(self, rows: Optional[np.ndarray]) -> Any: ...   # a reusable handle for a row set, or None

    def rank(self, qvec: np.ndarray, n: int, rows: Optional[np.ndarray], selector: Any, filters: Filters,
             period: Optional[tuple[str, str]]) -> list[tuple[int, float]]: ...

    def similarity(self, qvec: np.ndarray, rows: list[int]) -> np.ndarray: ...   # cosine of each row to qvec


@dataclass
class IndexView:
    """One consistent state of an index, swapped in whole so concurrent searches never see a mix."""
    manifest: dict[str, Any]
    chunks: list[Chunk]
    columns: Columns
    lexical: LexicalScorer
    dense: VectorStore
    encoder: Encoder
    cache: dict[str, Any] = field(default_factory=dict)   # values derived on first use (title words ...)
    # sentence windows (rag.indexing.windows.WindowVectors: rank(qvec, n, rows) -> [(row, cosine)]), or None
    windows: Optional[Any] = None

    @property
    def embedded(self) -> int:
        """Rows 0 .. embedded-1 have vectors; the others are found by BM25 only (an ingest still embedding)."""
        return int(self.manifest.get("embedded", len(self.chunks)))
