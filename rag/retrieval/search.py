"""Search: a query -> `Hit`s from an `IndexView`, by dense vectors, BM25, or both fused (reciprocal rank fusion).
Takes a view, a query, k, a mode and filters; gives ranked hits, one per speaker turn.

Filters are applied before ranking: the set of allowed rows is computed from
the chunk metadata first (rag.retrieval.filters), then the vector store searches only those rows
and BM25 scores are masked, so k hits come back whenever k matching chunks exist.

Dates in the question: in hybrid mode, a date the question names ("in June 2021", rag.retrieval.dates) makes
the search also rank the chunks of briefings from that period (widened; undated ones included)
and fuse those rankings in too: briefings of the period rise, the others still compete. Not a
filter, and the dense and bm25 modes stay plain baselines. RAG_DATE_HINTS=0 (settings.retrieval.date_hints) turns it off.

Scores: cosine similarity (dense), BM25 score (bm25), or the reciprocal rank
fusion sum (hybrid); comparable within one result list only.

One hit per turn: overlapping chunks of one speaker turn are capped to the best
one, unless fewer than k distinct turns match (then the rest are filled in
rank order).

Questions: a reporter's question stays searchable, but a question that was
answered is returned as its answer: the hit is the answering chunk (speaker,
role and words of whoever answered), and the question's words are in its
`question` field, never attributed to the answerer. So a query that matches a
question's wording brings back what the official said, not five reporters.
With speaker="questioner" (or when nobody answered) the question itself is the
hit. Every hit carries `role`.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from rag.errors import RagError
from rag.records import Hit
from rag.retrieval.dates import question_period
from rag.retrieval.filters import Filters
from rag.retrieval.rankings import bm25_ranking, fold_questions, one_per_turn, rrf
from rag.retrieval.view import IndexView
from rag.settings import RetrievalSettings, current

MODES = ("hybrid", "dense", "bm25")


def search(view: IndexView, query: str, k: int = 5, mode: str = "hybrid", filters: Optional[Filters] = None,
           settings: Optional[RetrievalSettings] = None) -> list[Hit]:
    """The top `k` hits for `query` in `view` (see the module docstring for modes, filters and dates)."""
    cfg = settings or current().retrieval
    if mode not in MODES:
        raise RagError(f"unknown search mode {mode!r}: use one of {', '.join(MODES)}")
    if not isinstance(k, int) or k < 1:
        raise RagError(f"k must be a positive whole number, not {k!r}")
    filters = filters or Filters()
    query = (query or "").strip()
    cols = view.columns
    if not query or cols.n == 0:
        return []
    allowed = cols.allowed(filters)
    total = cols.n if allowed is None else len(allowed)
    if total == 0:
        return []
    selector = view.dense.selector(allowed) if allowed is not None else None
    allowed_mask = None
    if allowed is not None:
        allowed_mask = np.zeros(cols.n, dtype=bool)
        allowed_mask[allowed] = True
    qvec = view.encoder.encode_query(query) if mode in ("dense", "hybrid") else None
    bm25_scores = view.lexical.scores(query) if mode in ("bm25", "hybrid") else None
    period, period_rows = None, None   # the question's period (rag.retrieval.dates), ranked too and fused in (hybrid only)
    if mode == "hybrid" and not (filters.date_from or filters.date_to) and cfg.date_hints:
        period = question_period(query)
        if period:
            period_rows = cols.in_period(*period, allowed_mask)
            if not 0 < len(period_rows) < total:
                period_rows = None   # nothing from that period, or nothing else: no preference to express

    # (rows, FAISS selector, period) to rank: the allowed rows, and the question's period when it names one
    row_sets = [(allowed, selector, None)]
    if period_rows is not None:
        row_sets.append((period_rows, view.dense.selector(period_rows), period))
    n = max(cfg.min_candidates, 4 * k)
    while True:
        rankings = []
        for rows, sel, per in row_sets:
            if qvec is not None:
                rankings.append(view.dense.rank(qvec, n, rows, sel, filters, per))
            if bm25_scores is not None:
                rankings.append(bm25_ranking(bm25_scores, rows, n))
        ranked = rankings[0] if mode != "hybrid" else rrf(rankings, cfg.rrf_k, weights=(1.0, cfg.bm25_weight) * len(row_sets))
        ranked = fold_questions(ranked, cols, allowed_mask)
        picked = one_per_turn(ranked, cols.turn_key, k)
        distinct = len({cols.turn_key[r] for r, _ in picked})
        if distinct >= k or n >= total:
            break
        n *= 4
    return [Hit.from_chunk(view.chunks[row], rank=i, score=score) for i, (row, score) in enumerate(picked, start=1)]
