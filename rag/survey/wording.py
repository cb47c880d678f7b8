"""Shorter wordings of a survey's topic that find more briefings: "Buffalo shooting" for "Buffalo supermarket
shooting". Takes an index view, the topic, the filters and the number of briefings it found; gives `Wording`s.

A survey counts a passage as addressing a topic of several words only when it names the whole topic (or is near
it by vectors): "border" alone is not "border wall" (rag.survey.find). Officials often name part of a topic,
though, and then the survey misses them: on the whole CC0 archive "Buffalo supermarket shooting" finds 5
briefings, recall 0.09 against its gold, and "Buffalo shooting" finds 35, recall 0.57 at precision 0.86
(eval/RESULTS.md). The survey cannot tell which part is enough without reading the passages, so it does not
widen the topic itself: it offers the reader each wording with one word left out that finds at least twice as
many briefings, with the count, and the reader chooses. When the topic holds a name (a word the archive writes
capitalised), a wording keeps one: "Pipeline" alone is not offered for "Colonial Pipeline". Only for a survey
that found fewer than FEW briefings, of a topic of two to MAX_WORDS content words.
"""
from __future__ import annotations

import re
from typing import Optional

import numpy as np

from rag.indexing.lexical import tokenize
from rag.records import Wording
from rag.retrieval.filters import Filters
from rag.retrieval.view import IndexView
from rag.settings import SurveySettings, current
from rag.survey.find import briefings, case_counts

MAX_WORDS = 4       # content words of a topic that gets wordings (each costs one candidate search): bounds the time
FEW = 20            # offered when the survey found fewer briefings than this: a thin result is where a reader needs
                    # them, and each wording costs 0.15-1 s on the whole archive (p95 of a survey <= 3 s, issue 16)
MORE = 2.0          # a wording is offered when it finds at least this many times the briefings, and
MORE_AT_LEAST = 3   # at least this many more: readability, not tuned
SHOWN = 3           # wordings offered at most
NAME_SAMPLE = 200   # passages read to tell a name from a common word: a bound on time, not tuned


def wordings(view: IndexView, topic: str, filters: Optional[Filters], found: int,
             settings: Optional[SurveySettings] = None) -> list[Wording]:
    """Each wording of `topic` with one content word left out that finds more briefings (see the module), fewest
    briefings first (the closest to the topic)."""
    cfg = settings or current().survey
    words = re.findall(r"\S+", topic)
    content = [i for i, w in enumerate(words) if tokenize(w)]
    if found >= FEW or not 2 <= len(content) <= MAX_WORDS:
        return []
    names = {i for i in content if _is_name(view, words[i])}
    out = []
    for drop in content:
        kept = [i for i in content if i != drop]
        if names and not names & set(kept):
            continue    # "Pipeline" alone is not "Colonial Pipeline", nor "wildfires" "Maui wildfires"
        shorter = " ".join(w for i, w in enumerate(words) if i in kept or (i not in content and _inside(i, kept)))
        n = len(briefings(view, shorter, filters or Filters(), cfg))
        if n >= max(MORE * found, found + MORE_AT_LEAST):
            out.append(Wording(shorter, n))
    return sorted(out, key=lambda w: (w.briefings, w.topic))[:SHOWN]


def _is_name(view: IndexView, word: str) -> bool:
    """The archive writes the word capitalised more often than not, in up to NAME_SAMPLE of the passages holding it
    ("Buffalo", "Navalny", "Wagner"; not "pipeline", "shooting", "wildfires")."""
    stems = frozenset(tokenize(word))
    if not stems:
        return False
    rows = np.flatnonzero(view.lexical.stem_scores(sorted(stems)) > 0)[:NAME_SAMPLE]
    pattern = re.compile(r"\b" + re.escape(word[:max(3, len(word) - 3)]) + r"\w*", re.I)
    lower, upper, _ = case_counts(pattern, stems, [view.chunks[r].text for r in rows.tolist()])
    return upper > lower


def _inside(i: int, content: list[int]) -> bool:
    """A stop word between two kept content words stays ("Ryanair diversion in Belarus" -> "Ryanair in Belarus")."""
    return any(c < i for c in content) and any(c > i for c in content)
