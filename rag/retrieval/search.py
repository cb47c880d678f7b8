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

Sentence windows: in hybrid mode, when the index has them (rag.indexing.windows), the dense ranking of the allowed
rows is itself the fusion of the passages' vectors and of their windows' (every two adjacent sentences of the
speaker's words, embedded apart): a passage one part of which says what was asked rises
(settings.retrieval.window_vote). The windows are searched once per query, `window_depth` times deeper than the
passages, and the ranking of a period the question names takes its rows from that list (searching that period's
windows apart cost 25 ms a query); the ranking of a speaker it names does not use them, and dense mode stays the
passages' vectors alone.

Best sentences: in hybrid mode the top passages (settings.retrieval.sentence_depth) get a second vote for how
much of the query's rarer words their best adjacent sentences hold (rag.retrieval.sentences), fused with their
order: the passage that says what was asked rises over one that mentions it in passing.

While an ingest is still embedding (rag.indexing.index: words first, vectors after), the rows without
vectors take part through BM25 only: in hybrid mode a row's BM25 rank stands in for its missing dense
rank (rankings.with_stand_ins), and its hit says so (`Hit.dense` False); dense mode searches the
embedded rows alone. Models are never mixed: every vector is from the index's model.

One hit per speaker turn (rag.retrieval.rankings.group_units): the chunks of a turn and the
question it answers are ranked as one exchange, scored by their best fused score. The hit shows
the turn's best-ranked chunk widened by its neighbours in the turn (rag.retrieval.passages), so
evidence in the next part of a long answer is shown too; when only the question matched, the
chunk of the answer closest to the query is the centre. A chunk that only acknowledges ("Yeah.",
"Thank you.") is never a hit, nor is a question whose answer only acknowledges.

Questions: a reporter's question stays searchable, but a question that was answered is returned
as its answer: the hit holds the speaker, role and words of whoever answered, and the question's
words are in its `question` field, never attributed to the answerer. With speaker="questioner"
(or when nobody answered) the question itself is the hit. Every hit carries `role`.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

import numpy as np

from rag.errors import RagError
from rag.records import Hit
from rag.retrieval.dates import question_period
from rag.retrieval.filters import Filters
from rag.retrieval.passages import passage
from rag.retrieval.rankings import bm25_ranking, group_units, rrf, with_stand_ins
from rag.retrieval.sentences import query_weights, rerank
from rag.retrieval.speakers import named_speakers
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
    allowed_mask = None
    if allowed is not None:
        allowed_mask = np.zeros(cols.n, dtype=bool)
        allowed_mask[allowed] = True
    # no vector yet (an ingest's first phase): hybrid is BM25 alone, and the query needs no embedding model
    dense_too = mode == "dense" or (mode == "hybrid" and view.embedded > 0)
    qvec = view.encoder.encode_query(query) if dense_too else None
    bm25_scores = view.lexical.scores(query) if mode in ("bm25", "hybrid") else None
    row_sets = _row_sets(view, query, mode, filters, allowed, allowed_mask, cfg)
    weights = [w * set_weight for *_, set_weight in row_sets
               for w in ((1.0, cfg.bm25_weight) if dense_too else (cfg.bm25_weight,))]
    windowed = mode == "hybrid" and cfg.window_vote and view.windows is not None and qvec is not None
    reranked = mode == "hybrid" and cfg.sentence_weight > 0
    wanted = max(k, cfg.sentence_depth) if reranked else k
    n = max(cfg.min_candidates, 4 * wanted)
    while True:
        rankings = []
        # the windows are searched once, window_depth x n rows deep; a period's ranking takes its rows from that
        wide = view.windows.rank(qvec, cfg.window_depth * n, row_sets[0][0]) if windowed else []
        for j, (rows, sel, per, flt, _) in enumerate(row_sets):
            lexical = bm25_ranking(bm25_scores, rows, n) if bm25_scores is not None else None
            if qvec is not None:
                dense = view.dense.rank(qvec, n, rows, sel, flt, per)
                if windowed and j == 0:
                    dense = rrf([dense, wide[:n]], cfg.rrf_k)
                elif windowed and per is not None:
                    inside = np.zeros(cols.n, dtype=bool)
                    inside[rows] = True
                    dense = rrf([dense, [x for x in wide if inside[x[0]]][:n]], cfg.rrf_k)
                if lexical is not None and view.embedded < cols.n:   # an ingest still embedding
                    dense = with_stand_ins(dense, lexical, view.embedded)
                rankings.append(dense)
            if lexical is not None:
                rankings.append(lexical)
        ranked = rankings[0] if mode != "hybrid" else rrf(rankings, cfg.rrf_k, weights=weights)
        units = group_units(ranked, cols, allowed_mask)
        if len(units) >= wanted or n >= total:
            break
        n *= 4
    hits = []
    for rank, unit in enumerate(units[:wanted], start=1):
        rows = [r for r in cols.turn_rows[unit.key] if not cols.trivial[r]
                and (allowed_mask is None or allowed_mask[r])]
        center = unit.center if unit.center is not None else _closest(view, rows, qvec, bm25_scores)
        hit = passage(view.chunks, rows, center, cfg.passage_window, rank, unit.score)
        hit.dense = center < view.embedded
        hits.append(hit)
    if reranked:
        hits = rerank(hits, query_weights(view.lexical, query), view.lexical.tokens, cfg.sentence_width,
                      cfg.sentence_weight, cfg.rrf_k)
    return hits[:k]


def _closest(view: IndexView, rows: list[int], qvec: Optional[np.ndarray], bm25_scores: Optional[np.ndarray]) -> int:
    """The row of a turn closest to the query, for a turn reached through its question only."""
    if qvec is not None and any(r < view.embedded for r in rows):
        return rows[int(np.argmax(view.dense.similarity(qvec, rows)))]   # a row without a vector scores -1
    if bm25_scores is not None:
        return rows[int(np.argmax(bm25_scores[rows]))]
    return rows[0]


def _row_sets(view: IndexView, query: str, mode: str, filters: Filters, allowed: Optional[np.ndarray],
              allowed_mask: Optional[np.ndarray], cfg: RetrievalSettings) -> list[tuple]:
    """(rows, selector, period, filters, weight) to rank: the allowed rows, and in hybrid mode also the period a
    question names (rag.retrieval.dates) and the rows of the speakers it names (rag.retrieval.speakers)."""
    cols = view.columns
    total = cols.n if allowed is None else len(allowed)
    row_sets = [(allowed, view.dense.selector(allowed) if allowed is not None else None, None, filters, 1.0)]
    if mode != "hybrid":
        return row_sets
    period = question_period(query) if cfg.date_hints and not (filters.date_from or filters.date_to) else None
    if period:
        rows = cols.in_period(*period, allowed_mask)
        if 0 < len(rows) < total:   # else nothing from that period, or nothing else: no preference to express
            row_sets.append((rows, view.dense.selector(rows), period, filters, 1.0))
    named = named_speakers(query, view) if cfg.speaker_hints and not filters.speaker else []
    if named:
        speaking = replace(filters, speaker=named)
        rows = cols.allowed(speaking)
        if 0 < len(rows) < total:
            row_sets.append((rows, view.dense.selector(rows), None, speaking, cfg.speaker_hint_weight))
    return row_sets
