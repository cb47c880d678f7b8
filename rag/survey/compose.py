"""The survey answer: statements in date order, a timeline, who said it most, and an overview paragraph.
Takes the found briefings (rag.survey.find) and the index view; gives a `Survey` record.

Every sentence of the overview is a count or a date read off the statements, or a verbatim quote cited [n]:
nothing in it needs a checker, and no model writes it. Statements are numbered [1]..[N] in date order (undated
ones last); a speaker is counted once per briefing, under the label the speaker is most often printed with
("MS. PSAKI" and "PRESS SECRETARY PSAKI" are one speaker: the same surname, titles left out; "THE PRESIDENT" in
2022, "PRESIDENT BIDEN" and "PRESIDENT JOE BIDEN" are one, through the office held on the briefing's date, and
"THE PRESIDENT" of 2025 another, rag.offices; "FIRST LADY JILL BIDEN" is not the President).
"""
from __future__ import annotations

import calendar
import datetime as dt
from collections import Counter
from typing import Optional

from rag.records import Period, SpeakerCount, Statement, Survey
from rag.lexicon import norm_label
from rag.offices import OFFICE_LABELS, label_holders, shared_surname
from rag.retrieval.speakers import name_words
from rag.retrieval.view import IndexView
from rag.settings import SurveySettings, current
from rag.survey.find import Found

UNDATED = "date not given"
# a quote shorter than this many words is shown with the question it answers: "Thanks, Kaitlan. I do not have any
# comments for you on that." says what it declines only beside the question (readability, not tuned)
SHORT_ANSWER_WORDS = 25


def shown_with_question(s: Statement) -> bool:
    """Whether a display shows the statement's quote with the reporter's question it answers."""
    return bool(s.question) and len(s.quote.split()) < SHORT_ANSWER_WORDS


def statements(view: IndexView, found: list[Found]) -> list[Statement]:
    """One statement per found briefing, in date order (undated last), numbered from 1."""
    out = []
    for f in found:
        c = view.chunks[f.row]
        a, b = f.quote
        out.append(Statement(0, c.chunk_id, c.doc_id, c.path, c.title, c.date, c.source_url, c.publisher, c.kind,
                             c.speaker, c.role, c.text[a:b], c.question, round(f.score, 4), len(f.rows),
                             list(f.speakers)))
    out.sort(key=lambda s: (s.date is None, s.date or "", s.title, s.path))
    for i, s in enumerate(out, 1):
        s.n = i
    return out


def speaker_key(label: Optional[str], date: Optional[str] = None) -> str:
    """Who a label names: the holder of the office an office label names on `date` ("THE PRESIDENT", 2022 ->
    "biden"); else the surname ("MS. PSAKI", "PRESS SECRETARY JEN PSAKI" -> "psaki"), or every name word of a
    spouse's label ("FIRST LADY JILL BIDEN" -> "jill biden": rag.offices.shared_surname); the whole label when it
    is titles only ("SENIOR ADMINISTRATION OFFICIAL")."""
    norm = norm_label(label)
    held = sorted(label_holders(label, date))
    if len(held) == 1:
        return held[0]
    name = name_words(norm)
    if not name:
        return norm
    return " ".join(name) if shared_surname(norm) else name[-1]


def speaker_names(items: list[Statement]) -> dict[str, str]:
    """speaker key -> the label it is most often printed with (ties: the shortest, then alphabetical), preferring
    a label that names the person; an office label alone gets the holder's name ("THE PRESIDENT (Biden)")."""
    labels: dict[str, Counter] = {}
    for s in items:
        for label in s.speakers or [s.speaker]:
            if label:
                labels.setdefault(speaker_key(label, s.date), Counter())[label] += 1
    out = {}
    for k, c in labels.items():
        named = Counter({x: n for x, n in c.items() if norm_label(x) not in OFFICE_LABELS})
        best = sorted((named or c).items(), key=lambda x: (-x[1], len(x[0]), x[0]))[0][0]
        out[k] = best if named or norm_label(best) == k else f"{best} ({k.title()})"
    return out


def speaker_counts(items: list[Statement]) -> list[SpeakerCount]:
    """Briefings per speaker, most first."""
    names = speaker_names(items)
    counts = Counter(k for s in items for k in {speaker_key(x, s.date) for x in (s.speakers or [s.speaker]) if x})
    return [SpeakerCount(names[k], n) for k, n in sorted(counts.items(), key=lambda x: (-x[1], names[x[0]]))]


def _months(first: str, last: str) -> int:
    a, b = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return (b.year - a.year) * 12 + b.month - a.month + 1


def granularity(items: list[Statement], cfg: SurveySettings) -> str:
    dates = [s.date for s in items if s.date]
    return "quarter" if dates and _months(min(dates), max(dates)) > cfg.quarter_after_months else "month"


def period_of(date: Optional[str], unit: str) -> tuple[str, Optional[str], Optional[str]]:
    """(label, first day, last day) of the month or quarter holding `date`."""
    if not date:
        return UNDATED, None, None
    d = dt.date.fromisoformat(date)
    if unit == "quarter":
        q = (d.month - 1) // 3
        first, last_month = dt.date(d.year, 3 * q + 1, 1), 3 * q + 3
        return f"{d.year} Q{q + 1}", first.isoformat(), \
            dt.date(d.year, last_month, calendar.monthrange(d.year, last_month)[1]).isoformat()
    return f"{d.year}-{d.month:02d}", dt.date(d.year, d.month, 1).isoformat(), \
        dt.date(d.year, d.month, calendar.monthrange(d.year, d.month)[1]).isoformat()


def timeline(items: list[Statement], unit: str) -> list[Period]:
    """The periods that hold statements, in order (undated last); each lists its statements' numbers."""
    periods: dict[str, Period] = {}
    for s in items:
        label, first, last = period_of(s.date, unit)
        periods.setdefault(label, Period(label, first, last)).statements.append(s.n)
    return list(periods.values())   # statements are in date order already


def long_date(iso: Optional[str]) -> str:
    if not iso:
        return "an undated briefing"
    d = dt.date.fromisoformat(iso)
    return f"{calendar.month_name[d.month]} {d.day}, {d.year}"


def _who(filters: dict) -> str:
    speaker = filters.get("speaker")
    if not speaker or norm_label(speaker) in ("official", "officials"):
        return "Officials"
    return speaker if isinstance(speaker, str) else " or ".join(speaker)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def overview(topic: str, items: list[Statement], speakers: list[SpeakerCount], periods: list[Period],
             filters: dict) -> str:
    """One paragraph: how many briefings, which period, who most, the busiest period, earliest and latest quote."""
    n = len(items)
    dated = [s for s in items if s.date]
    where = f"{n} briefing{'s' if n != 1 else ''}"
    if dated and len(dated) < n:
        where += f" ({n - len(dated)} without a date)"
    span = ""
    if dated:
        first, last = dated[0].date, dated[-1].date
        span = f" on {long_date(first)}" if first == last else f" between {long_date(first)} and {long_date(last)}"
    parts = [f"{_who(filters)} addressed “{topic}” in {where}{span}."]
    if speakers:
        top = [f"{c.speaker} ({c.briefings}{' briefings' if i == 0 and c.briefings != 1 else ''}"
               f"{' briefing' if i == 0 and c.briefings == 1 else ''})" for i, c in enumerate(speakers[:3])]
        parts.append(f"Most often: {_and(top)}.")
    busiest = max((p for p in periods if p.start), key=lambda p: len(p.statements), default=None)
    if busiest and n >= 3 and len(busiest.statements) > 1:
        parts.append(f"The busiest {'quarter' if 'Q' in busiest.label else 'month'} was {busiest.label}, "
                     f"with {len(busiest.statements)} briefings.")
    if dated:
        e = dated[0]
        parts.append(f"Earliest: {e.speaker or 'an unnamed official'}, {long_date(e.date)}{_replying(e)}: "
                     f"“{e.quote}” [{e.n}].")
        if len(dated) > 1:
            z = dated[-1]
            parts.append(f"Latest: {z.speaker or 'an unnamed official'}, {long_date(z.date)}{_replying(z)}: "
                         f"“{z.quote}” [{z.n}].")
    elif items:
        s = items[0]
        parts.append(f"For example, {s.speaker or 'an unnamed official'}: “{s.quote}” [{s.n}].")
    return " ".join(parts)


def _replying(s: Statement) -> str:
    """", answering a reporter's question" for a short quote shown with its question (`shown_with_question`): "Thanks,
    Kaitlan. I do not have any comments for you on that." declines a question, which the timeline shows."""
    return ", answering a reporter's question" if shown_with_question(s) else ""


def not_covered(topic: str, filters: dict) -> str:
    narrowed = " with these filters" if any(filters.values()) else ""
    return (f"The briefings do not cover “{topic}”{narrowed}: no passage where "
            f"{_who(filters).lower() if _who(filters) == 'Officials' else _who(filters)} addressed it.")


def compose(view: IndexView, topic: str, found: list[Found], filters: dict,
            settings: Optional[SurveySettings] = None) -> Survey:
    """The survey record, threads left empty (rag.survey.threads fills them)."""
    cfg = settings or current().survey
    filters = {k: v for k, v in filters.items() if v}
    if not found:
        return Survey(topic, not_covered(topic, filters), True, filters=filters)
    items = statements(view, found)
    unit = granularity(items, cfg)
    periods = timeline(items, unit)
    speakers = speaker_counts(items)
    return Survey(topic, overview(topic, items, speakers, periods, filters), False, items, periods, [], speakers,
                  unit, filters)
