"""Surveys: what officials said about a topic across the whole archive, dated and attributed, with a chart.
Takes an index view, a topic and filters; gives a `Survey` (overview, timeline, threads, who said it most, citations).

    survey(view, "Syria", Filters(speaker="Kirby"))  -> Survey   (rag.records)
    find      every briefing where an official addresses the topic, its best quote (rag.survey.find)
    compose   statements in date order, timeline, speaker counts, overview (rag.survey.compose)
    threads   sub-topics labelled with words of their quotes (rag.survey.threads)
    wording   shorter wordings of the topic that find more briefings, offered to the reader (rag.survey.wording)
    chart     briefings per period stacked by speaker; PNG/SVG (rag.survey.chart)
    export    Markdown and CSV (rag.survey.export)
    intent    which chat questions are surveys; follow-ups that narrow one (rag.survey.intent)
"""
from __future__ import annotations

import time
from dataclasses import asdict
from typing import Optional

from rag.errors import RagError
from rag.records import Survey
from rag.retrieval.filters import Filters
from rag.retrieval.view import IndexView
from rag.settings import SurveySettings, current
from rag.survey.compose import compose
from rag.survey.find import find
from rag.survey.threads import group
from rag.survey.wording import wordings

MAX_TOPIC_CHARS = 300


def survey(view: IndexView, topic: str, filters: Optional[Filters] = None,
           settings: Optional[SurveySettings] = None) -> Survey:
    """Every briefing where an official (or the speaker the filters name) addresses `topic`, as a `Survey`."""
    cfg = settings or current().survey
    topic = " ".join((topic or "").split())
    if not topic:
        raise RagError("a survey needs a topic, such as “Syria” or “student loans”")
    if len(topic) > MAX_TOPIC_CHARS:
        raise RagError(f"the topic is {len(topic)} characters long; a survey topic is a few words "
                       f"(at most {MAX_TOPIC_CHARS} characters)")
    filters = filters or Filters()
    t0 = time.perf_counter()
    found = find(view, topic, filters, cfg)
    t1 = time.perf_counter()
    result = compose(view, topic, found, asdict(filters), cfg)
    if not result.abstained:
        row_of = {f.doc_id: f.row for f in found}
        passages = [view.chunks[row_of[s.doc_id]].text for s in result.statements]
        result.threads = group(result.statements, passages, topic, cfg)
    t2 = time.perf_counter()
    result.wordings = wordings(view, topic, filters, len(result.statements), cfg)
    t3 = time.perf_counter()
    result.timings = {"find_s": round(t1 - t0, 4), "compose_s": round(t2 - t1, 4), "wordings_s": round(t3 - t2, 4),
                      "total_s": round(t3 - t0, 4)}
    return result

