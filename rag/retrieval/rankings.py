"""Rankings and their fusion: BM25 over a score array, weighted reciprocal rank fusion, then ranked passages:
one per speaker turn, an answered question counting for its answer. Takes (row, score) lists; gives units.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from rag.retrieval.filters import Columns

Ranking = list[tuple[int, float]]   # (row, score), best first


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


def with_stand_ins(dense: list[tuple[int, float]], lexical: list[tuple[int, float]],
                   embedded: int) -> list[tuple[int, float]]:
    """The dense ranking with each row that has no vector yet (row >= `embedded`) put in at its place in the
    BM25 ranking: while an ingest is still embedding, such a row competes in fusion as if its BM25 rank
    were its dense rank too, instead of counting half (only BM25) against rows that have both."""
    pending = [(pos, row, score) for pos, (row, score) in enumerate(lexical) if row >= embedded]
    if not pending:
        return dense
    placed = [(pos, 0, row, score) for pos, (row, score) in enumerate(dense)] + [(pos, 1, row, score)
                                                                                 for pos, row, score in pending]
    return [(row, score) for _, _, row, score in sorted(placed)]


@dataclass
class Unit:
    """A passage to show: one speaker's turn, scored with the question it answers (an exchange)."""
    key: tuple                  # (doc_id, turn) of the speaker turn
    score: float                # the best fused score of its rows, its question's included
    center: Optional[int]       # its best-ranked row of the speaker's own words; None when only the question matched


def group_units(ranked: Ranking, cols: Columns, allowed_mask: Optional[np.ndarray]) -> list[Unit]:
    """Ranked rows -> ranked passages, one per speaker turn. A reporter's question that was answered counts for
    the turn answering it (its words are that passage's context, never the official's); a chunk that only
    acknowledges is dropped, and so is a question whose answer only acknowledges."""
    units: dict[tuple, Unit] = {}
    for row, score in ranked:
        if cols.trivial[row]:
            continue
        answer = cols.answer_rows.get(row)
        if answer and allowed_mask is not None:
            answer = [j for j in answer if allowed_mask[j]]
        if answer:
            if all(cols.trivial[j] for j in answer):
                continue
            key, own = cols.turn_key[answer[0]], None
        else:
            key, own = cols.turn_key[row], row
        unit = units.get(key)
        if unit is None:
            units[key] = Unit(key, score, own)
        elif unit.center is None:
            unit.center = own
    return list(units.values())
