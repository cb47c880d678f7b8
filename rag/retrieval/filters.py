"""Search filters (speaker or role, publisher, kind, date range) and the chunk metadata columns they run over.
Takes chunks and a `Filters`; gives the sorted row ids that pass, so searches return k hits whenever k exist.

Speaker filter: a role name (official, questioner, moderator, operator, other, unattributed; plural
accepted) selects by role; anything else matches speaker labels case-insensitively, either the whole
label or whole words inside it ("Blinken" matches "SECRETARY BLINKEN"), and a President's or Vice President's
name also matches the rows labelled by the office in that person's term ("Biden" matches "THE PRESIDENT" in a
2023 briefing: rag.offices). Publisher and kind match the same way. A date filter excludes chunks whose
briefing has no date.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence, Union

import numpy as np

from rag.errors import RagError
from rag.lexicon import is_acknowledgement, norm_label, says_nothing_alone
from rag.offices import OFFICE_LABELS, shared_surname, terms
from rag.records import QUESTIONER, ROLES, Chunk

DateLike = Union[str, _dt.date, None]
Match = Union[str, Sequence[str], None]


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


def wanted(value: Match) -> list[str]:
    if value is None:
        return []
    values = [value] if isinstance(value, str) else list(value)
    return [v for v in (norm_label(x) for x in values) if v]


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
        return bool(wanted(self.speaker) or wanted(self.publisher) or wanted(self.kind)
                    or self.date_from or self.date_to)


class Columns:
    """Chunk metadata as arrays, for fast filtering."""

    def __init__(self, chunks: Sequence[Chunk]):
        self.n = len(chunks)
        self.role = np.array([c.role for c in chunks], dtype=object)
        self.date = np.array([c.date or "" for c in chunks], dtype=object)
        self.speaker = np.array([norm_label(c.speaker) for c in chunks], dtype=object)
        self.publisher = np.array([norm_label(c.publisher) for c in chunks], dtype=object)
        self.kind = np.array([norm_label(c.kind) for c in chunks], dtype=object)
        self._coded: dict[str, tuple[list[str], np.ndarray]] = {}
        self.day = np.array([int(c.date.replace("-", "")) if c.date and _ISO.match(c.date) else 0 for c in chunks],
                            dtype=np.int64)   # 20210614; 0 = no date
        self.turn_key = [(c.doc_id, c.turn) for c in chunks]
        self.turn_rows: dict[tuple, list[int]] = {}   # (doc_id, turn) -> its rows, in part order
        for i in sorted(range(self.n), key=lambda i: chunks[i].part):
            self.turn_rows.setdefault(self.turn_key[i], []).append(i)
        self.answer_rows = _answer_rows(chunks)
        # a chunk that only acknowledges ("Yeah.", "Thank you."), or a whole turn too short to say anything without
        # a question: never a hit on its own (rag.lexicon.says_nothing_alone). A reporter's short question is not
        # one: it asks, and when answered it counts for its answer (rankings.group_units).
        self.trivial = np.fromiter((is_acknowledgement(c.text) or (
            c.role != QUESTIONER and len(self.turn_rows[self.turn_key[i]]) == 1
            and says_nothing_alone(c.text, bool(c.question))) for i, c in enumerate(chunks)), dtype=bool, count=self.n)

    def _codes(self, name: str) -> tuple[list[str], np.ndarray]:
        """A column's distinct values and each row's index into them, made once: a filter then reads a few
        thousand labels, not every row (~1 ms instead of ~20 ms at 200,000 rows)."""
        if name not in self._coded:
            index: dict[str, int] = {}
            codes = np.fromiter((index.setdefault(v, len(index)) for v in getattr(self, name).tolist()),
                                dtype=np.int32, count=self.n)
            self._coded[name] = (list(index), codes)
        return self._coded[name]

    def _match(self, column: str, wanted: list[str]) -> np.ndarray:
        values, codes = self._codes(column)
        if column == "speaker":   # "Biden" alone is the President, not "FIRST LADY JILL BIDEN" (rag.offices)
            return np.array([_label_matches(v, [w for w in wanted if w != shared_surname(v)]) for v in values],
                            dtype=bool)[codes]
        return np.array([_label_matches(v, wanted) for v in values], dtype=bool)[codes]

    def allowed(self, f: Filters) -> Optional[np.ndarray]:
        """Sorted row ids passing the filters, or None when no filter is set."""
        if not f.active():
            return None
        mask = np.ones(self.n, dtype=bool)
        speakers = wanted(f.speaker)
        if speakers:
            roles = {w[:-1] if w.endswith("s") and w[:-1] in ROLES else w for w in speakers}
            role_ok = np.isin(self.role, [r for r in roles if r in ROLES])
            labels = [w for w in speakers if w not in ROLES and not (w.endswith("s") and w[:-1] in ROLES)]
            label_ok = self._match("speaker", labels) if labels else np.zeros(self.n, dtype=bool)
            label_ok |= self._in_office(labels)
            mask &= role_ok | label_ok
        if wanted(f.publisher):
            mask &= self._match("publisher", wanted(f.publisher))
        if wanted(f.kind):
            mask &= self._match("kind", wanted(f.kind))
        if f.date_from or f.date_to:
            has = self.date != ""
            mask &= has
            if f.date_from:
                mask &= np.where(has, self.date >= f.date_from, False).astype(bool)
            if f.date_to:
                mask &= np.where(has, self.date <= f.date_to, False).astype(bool)
        return np.flatnonzero(mask).astype(np.int64)

    def _in_office(self, names: list[str]) -> np.ndarray:
        """Rows labelled by an office ("the president") that one of `names` held on the row's date."""
        out = np.zeros(self.n, dtype=bool)
        values, codes = self._codes("speaker")
        for name in names:
            for office, start, end in terms(name):
                labelled = np.array([OFFICE_LABELS.get(v) == office for v in values], dtype=bool)[codes]
                lo = int(start.replace("-", ""))
                hi = int(end.replace("-", "")) if end else np.iinfo(np.int64).max
                out |= labelled & (self.day >= lo) & (self.day < hi)
        return out

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
