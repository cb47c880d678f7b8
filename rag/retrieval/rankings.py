"""Rankings and their fusion: BM25 over a score array, weighted reciprocal rank fusion, answered questions
folded into their answers, one hit per speaker turn. Takes (row, score) lists; gives one (row, score) list.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from rag.retrieval.filters import Columns

Ranking = list[tuple[int, float]]   # (row, score), best first

def fold_questions(ranked: list[tuple[int, float]], cols: Columns, allowed_mask: Optional[np.ndarray]):
    """Replace each answered question by the best-ranked (else first) chunk of its answer."""
    if not cols.answer_rows:
        return ranked
    position = {row: i for i, (row, _) in enumerate(ranked)}
    out = []
    for row, score in ranked:
        rows = cols.answer_rows.get(row)
        if rows and allowed_mask is not None:
            rows = [j for j in rows if allowed_mask[j]]
        if rows:
            row = min(rows, key=lambda j: position.get(j, len(ranked) + rows.index(j)))
        out.append((row, score))
    return out


def bm25_ranking(scores: np.ndarray, allowed: Optional[np.ndarray], n: int) -> list[tuple[int, float]]:
    if allowed is not None:
        masked = np.full_like(scores, -np.inf)
        masked[allowed] = scores[allowed]
        scores = masked
    candidates = np.flatnonzero(scores > 0)   # BM25 only ranks chunks sharing a word with the query
    if len(candidates) > n:
        candidates = candidates[np.argpartition(-scores[candidates], n - 1)[:n]]
    order = candidates[np.lexsort((candidates, -scores[candidates]))]
    return [(int(i), float(scores[i])) for i in order]


def rrf(rankings: Sequence[list[tuple[int, float]]], k: int,
        weights: Optional[Sequence[float]] = None) -> list[tuple[int, float]]:
    """Weighted reciprocal rank fusion: sum of weight / (k + rank) over the rankings."""
    fused: dict[int, float] = {}
    for j, ranking in enumerate(rankings):
        w = 1.0 if weights is None else weights[j]
        for rank, (row, _) in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + w / (k + rank)
    return sorted(fused.items(), key=lambda x: (-x[1], x[0]))


def one_per_turn(ranked: list[tuple[int, float]], turn_key: Sequence[Any], k: int) -> list[tuple[int, float]]:
    """Best chunk of each turn first; other chunks of used turns only if fewer than k turns matched."""
    seen, first, rest, rows = set(), [], [], set()
    for row, score in ranked:
        if row in rows:   # an answer reached twice (itself, and through a folded question)
            continue
        rows.add(row)
        key = turn_key[row]
        (rest if key in seen else first).append((row, score))
        seen.add(key)
    return (first + rest)[:k] if len(first) < k else first[:k]
