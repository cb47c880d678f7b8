"""Sentence windows: every `width` adjacent sentences of a passage's own words, embedded apart from the passage.
Takes chunks (and an encoder, when building); gives the window texts and, at search time, a ranking of rows by
their best window (`WindowVectors.rank`).

A passage's vector stands for all of it; a question often asks about one part. In hybrid search the dense ranking
is a fusion of the passages' vectors and of these windows' (rag.retrieval.search, settings.retrieval.window_vote),
so a passage one part of which says what was asked rises. Only the speaker's words are windowed: never the
reporter's question, never the speaker label (the passage vector carries both).

Stored with each generation that has every vector (rag.indexing.store: `windows.G.npy` float32 rows,
`wrows.G.npy` the row each belongs to, ascending, `wfaiss.G.index` exact or HNSW as for passages); a generation
that adds or drops chunks has none until the index computes them again, reusing the windows of every passage
whose content is unchanged (rag.indexing.index).
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from rag.indexing import ann
from rag.lexicon import sentence_spans
from rag.records import Chunk
from rag.settings import current


def window_texts(text: str, width: int) -> list[str]:
    """`text`'s runs of `width` adjacent sentences (a text of fewer sentences is one window)."""
    spans = sentence_spans(text) or [(0, len(text))]
    return [text[spans[i][0]:spans[min(len(spans), i + width) - 1][1]]
            for i in range(max(1, len(spans) - width + 1))]


def chunk_windows(chunks: Sequence[Chunk], width: int) -> tuple[list[str], np.ndarray]:
    """Every window text of `chunks`, in order, and the position in `chunks` each belongs to."""
    texts: list[str] = []
    owner: list[int] = []
    for i, c in enumerate(chunks):
        w = window_texts(c.text, width)
        texts.extend(w)
        owner.extend([i] * len(w))
    return texts, np.asarray(owner, dtype=np.int64)


class WindowVectors:
    """The windows of one generation: `matrix` (memory-mapped float32 rows), `rows` (the chunk row of each,
    ascending) and their FAISS index."""

    def __init__(self, faiss_index: Any, matrix: np.ndarray, rows: np.ndarray):
        self.faiss_index = faiss_index
        self.matrix = matrix
        self.rows = np.asarray(rows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def of_rows(self, rows: np.ndarray) -> np.ndarray:
        """The window ids of these chunk rows (ascending)."""
        rows = np.asarray(rows, dtype=np.int64)
        start = np.searchsorted(self.rows, rows, "left")
        stop = np.searchsorted(self.rows, rows, "right")
        count = stop - start
        if not count.sum():
            return np.zeros(0, dtype=np.int64)
        offsets = np.repeat(start - np.concatenate([[0], np.cumsum(count)[:-1]]), count)
        return np.sort(np.arange(int(count.sum()), dtype=np.int64) + offsets)

    def rank(self, qvec: np.ndarray, n: int, rows: Optional[np.ndarray]) -> list[tuple[int, float]]:
        """The top `n` chunk rows (of `rows`, or all) by the cosine of their best window to the query."""
        allowed = None if rows is None else self.of_rows(rows)
        if allowed is not None and not len(allowed):
            return []
        want = 4 * n   # windows to fetch: a passage has 3.7 on average, and the best ones cluster in a few
        scores, ids = ann.search(self.faiss_index, qvec, want, allowed=allowed, vectors=self.matrix,
                                 ef_search=current().index.window_ef_search)
        out: dict[int, float] = {}
        for i, s in zip(ids[0].tolist(), scores[0].tolist()):
            if i < 0:
                continue
            row = int(self.rows[i])
            if row not in out:
                out[row] = float(s)
                if len(out) >= n:
                    break
        return sorted(out.items(), key=lambda x: (-x[1], x[0]))
