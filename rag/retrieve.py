"""Retrieval over the loaded index: dense (FAISS), BM25, or both fused (reciprocal rank fusion).

Filters are applied before ranking: the set of allowed rows is computed from
the chunk metadata first, then FAISS searches only those ids (IDSelectorBatch)
and BM25 scores are masked, so k hits come back whenever k matching chunks exist.

Speaker filter: a role name (official, questioner, moderator, operator, other,
unattributed; plural accepted) selects by role; anything else matches speaker
labels case-insensitively, either the whole label or whole words inside it
("Blinken" matches "SECRETARY BLINKEN"). Publisher and kind match the same way.
A date filter excludes chunks whose briefing has no date.
Dates in the question: in hybrid mode, a date the question names ("in June 2021", rag.dates) makes
the search also rank the chunks of briefings from that period (widened; undated ones included)
and fuse those rankings in too: briefings of the period rise, the others still compete. Not a
filter, and the dense and bm25 modes stay plain baselines. RAG_DATE_HINTS=0 turns it off.

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

import datetime as _dt
import os
import re
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence, Union

import numpy as np

from rag.dates import question_period
from rag.errors import RagError
from rag.records import QUESTIONER, ROLES, Chunk, Hit

MODES = ("hybrid", "dense", "bm25")
RRF_K = 60          # the usual reciprocal rank fusion constant
# BM25's vote in hybrid fusion, relative to dense (1.0). Journalists' questions are paraphrases, where
# BM25 is the weaker ranker: at equal weight it pushed one right answer out of the top 5 once 39
# distractor briefings were added (eval/compare_modes.py). 0.5 was picked on those same 22 questions,
# so the hybrid figures there are not a held-out measurement.
BM25_WEIGHT = 0.5
MIN_CANDIDATES = 50  # per ranking, grown until k distinct turns are found or candidates run out

DateLike = Union[str, _dt.date, None]
Match = Union[str, Sequence[str], None]


def _norm(s: Optional[str]) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", (s or "").casefold()).split())


def _as_date(value: DateLike, name: str) -> Optional[str]:
    if value is None or value == "":
        return None
    if isinstance(value, _dt.datetime):
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    try:
        return _dt.date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise RagError(f"{name}: {value!r} is not a date; use YYYY-MM-DD") from None


def _wanted(value: Match) -> list[str]:
    if value is None:
        return []
    values = [value] if isinstance(value, str) else list(value)
    return [v for v in (_norm(x) for x in values) if v]


def _label_matches(label_norm: str, wanted: Iterable[str]) -> bool:
    padded = f" {label_norm} "
    return any(w == label_norm or f" {w} " in padded for w in wanted)


@dataclass
class Filters:
    speaker: Match = None
    publisher: Match = None
    kind: Match = None
    date_from: DateLike = None
    date_to: DateLike = None

    def __post_init__(self):
        self.date_from = _as_date(self.date_from, "date_from")
        self.date_to = _as_date(self.date_to, "date_to")

    def active(self) -> bool:
        return bool(_wanted(self.speaker) or _wanted(self.publisher) or _wanted(self.kind)
                    or self.date_from or self.date_to)


class Columns:
    """Chunk metadata as arrays, for fast filtering."""

    def __init__(self, chunks: Sequence[Chunk]):
        self.n = len(chunks)
        self.role = np.array([c.role for c in chunks], dtype=object)
        self.date = np.array([c.date or "" for c in chunks], dtype=object)
        self.speaker = np.array([_norm(c.speaker) for c in chunks], dtype=object)
        self.publisher = np.array([_norm(c.publisher) for c in chunks], dtype=object)
        self.kind = np.array([_norm(c.kind) for c in chunks], dtype=object)
        self.day = np.array([int(c.date.replace("-", "")) if c.date and _ISO.match(c.date) else 0 for c in chunks],
                            dtype=np.int64)   # 20210614; 0 = no date
        self.turn_key = [(c.doc_id, c.turn) for c in chunks]
        self.answer_rows = _answer_rows(chunks)

    def _match(self, column: np.ndarray, wanted: list[str]) -> np.ndarray:
        uniq = {v: _label_matches(v, wanted) for v in set(column.tolist())}
        return np.fromiter((uniq[v] for v in column), dtype=bool, count=self.n)

    def allowed(self, f: Filters) -> Optional[np.ndarray]:
        """Sorted row ids passing the filters, or None when no filter is set."""
        if not f.active():
            return None
        mask = np.ones(self.n, dtype=bool)
        speakers = _wanted(f.speaker)
        if speakers:
            roles = {w[:-1] if w.endswith("s") and w[:-1] in ROLES else w for w in speakers}
            role_ok = np.isin(self.role, [r for r in roles if r in ROLES])
            labels = [w for w in speakers if w not in ROLES and not (w.endswith("s") and w[:-1] in ROLES)]
            label_ok = self._match(self.speaker, labels) if labels else np.zeros(self.n, dtype=bool)
            mask &= role_ok | label_ok
        if _wanted(f.publisher):
            mask &= self._match(self.publisher, _wanted(f.publisher))
        if _wanted(f.kind):
            mask &= self._match(self.kind, _wanted(f.kind))
        if f.date_from or f.date_to:
            has = self.date != ""
            mask &= has
            if f.date_from:
                mask &= np.where(has, self.date >= f.date_from, False).astype(bool)
            if f.date_to:
                mask &= np.where(has, self.date <= f.date_to, False).astype(bool)
        return np.flatnonzero(mask).astype(np.int64)


    def in_period(self, first: str, last: str, allowed_mask: Optional[np.ndarray]) -> np.ndarray:
        """Sorted rows dated within [first, last] or undated (their date may match), among the allowed ones."""
        lo, hi = int(first.replace("-", "")), int(last.replace("-", ""))
        mask = (self.day == 0) | ((self.day >= lo) & (self.day <= hi))
        if allowed_mask is not None:
            mask &= allowed_mask
        return np.flatnonzero(mask).astype(np.int64)


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _answer_rows(chunks: Sequence[Chunk]) -> dict[int, list[int]]:
    """Questioner row -> rows of the turn answering it (the next turn within 4 that carries its words)."""
    answers: dict[str, list[int]] = {}
    for i, c in enumerate(chunks):
        if c.question and c.role != QUESTIONER:
            answers.setdefault(c.doc_id, []).append(i)
    out: dict[int, list[int]] = {}
    for i, c in enumerate(chunks):
        if c.role != QUESTIONER or c.doc_id not in answers or not c.text:
            continue
        rows = [j for j in answers[c.doc_id] if c.turn < chunks[j].turn <= c.turn + 4 and c.text in chunks[j].question]
        if rows:
            first = min(chunks[j].turn for j in rows)
            out[i] = sorted((j for j in rows if chunks[j].turn == first), key=lambda j: chunks[j].part)
    return out


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


def dense_ranking(faiss_index, qvec: np.ndarray, allowed: Optional[np.ndarray], n: int,
                  selector=None, vectors=None) -> list[tuple[int, float]]:
    """rag.ann.search: exact or HNSW (efSearch >= n); a narrow filter is searched exactly over its rows."""
    from rag import ann
    scores, ids = ann.search(faiss_index, qvec, n, allowed=allowed, vectors=vectors, selector=selector)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


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


def rrf(rankings: Sequence[list[tuple[int, float]]], k: int = RRF_K,
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


def search(view, query: str, k: int = 5, mode: str = "hybrid", filters: Optional[Filters] = None) -> list[Hit]:
    """`view` offers .chunks, .columns, .faiss_index, .lexical and .embedder (see rag.index.Index)."""
    import faiss
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
    selector = faiss.IDSelectorBatch(allowed) if allowed is not None else None
    allowed_mask = None
    if allowed is not None:
        allowed_mask = np.zeros(cols.n, dtype=bool)
        allowed_mask[allowed] = True
    qvec = view.embedder.encode_query(query) if mode in ("dense", "hybrid") else None
    bm25_scores = view.lexical.scores(query) if mode in ("bm25", "hybrid") else None
    period, period_rows = None, None   # the question's period (rag.dates), ranked too and fused in (hybrid only)
    if mode == "hybrid" and not (filters.date_from or filters.date_to) and os.environ.get("RAG_DATE_HINTS", "1") != "0":
        period = question_period(query)
        if period:
            period_rows = cols.in_period(*period, allowed_mask)
            if not 0 < len(period_rows) < total:
                period_rows = None   # nothing from that period, or nothing else: no preference to express

    # (rows, FAISS selector, period) to rank: the allowed rows, and the question's period when it names one
    row_sets = [(allowed, selector, None)]
    if period_rows is not None:
        row_sets.append((period_rows, faiss.IDSelectorBatch(period_rows), period))
    n = max(MIN_CANDIDATES, 4 * k)
    while True:
        rankings = []
        for rows, sel, per in row_sets:
            if qvec is not None:
                if getattr(view, "milvus", None) is not None:   # vectors in Milvus (rag.milvus_store)
                    from rag.milvus_store import dense_ranking as milvus_ranking
                    rankings.append(milvus_ranking(view, qvec, filters, n, period=per))
                else:
                    rankings.append(dense_ranking(view.faiss_index, qvec, rows, n, sel, view.vectors))
            if bm25_scores is not None:
                rankings.append(bm25_ranking(bm25_scores, rows, n))
        ranked = rankings[0] if mode != "hybrid" else rrf(rankings, weights=(1.0, BM25_WEIGHT) * len(row_sets))
        ranked = fold_questions(ranked, cols, allowed_mask)
        picked = one_per_turn(ranked, cols.turn_key, k)
        distinct = len({cols.turn_key[r] for r, _ in picked})
        if distinct >= k or n >= total:
            break
        n *= 4
    return [Hit.from_chunk(view.chunks[row], rank=i, score=score) for i, (row, score) in enumerate(picked, start=1)]
