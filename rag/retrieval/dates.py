"""Dates written in a question ("in June 2021", "mid-December 2021", "on October 1, 2024").
Takes a question; gives the period of briefing dates (widened) for retrieval to prefer, or None.

A question's date often names the event, not the briefing ("weeks before the February 2022
invasion" was asked about a briefing of 2022-01-13; "after the May 2023 price report" about one of
2023-06-13), so the period is widened (a day by a week, a month or a year by a month on each side)
and retrieval uses it as a preference, never as a filter (rag.retrieval.search).

    question_period("What did Kirby say in early September 2024?")  -> ("2024-08-01", "2024-10-31")
"""
from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import Optional

MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
MONTHS["sept"] = 9
DAY_MARGIN = dt.timedelta(days=7)
MONTH_MARGIN = dt.timedelta(days=31)
YEARS = range(1990, 2100)

_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_DAY_DATE = re.compile(_MONTH + r"\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<year>\d{4})\b", re.I)
_MONTH_DATE = re.compile(r"\b" + _MONTH + r",?\s+(?:of\s+)?(?P<year>\d{4})\b", re.I)
_YEAR = re.compile(r"\b(?:in|during|since|of|by|early|mid|late|end of)[\s-]+(?P<year>(?:19|20)\d\d)\b", re.I)


def _month_span(year: int, month: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def question_period(question: str, widen: bool = True) -> Optional[tuple[str, str]]:
    """(first, last) ISO dates covering every date the question names, widened (unless `widen` is False: a
    filter the user asked for, "and in 2023?"); None when it names none."""
    spans: list[tuple[dt.date, dt.date]] = []
    day_margin, month_margin = (DAY_MARGIN, MONTH_MARGIN) if widen else (dt.timedelta(0), dt.timedelta(0))
    text = question or ""
    for m in _DAY_DATE.finditer(text):
        year, month, day = int(m["year"]), MONTHS[m["month"].lower()], int(m["day"])
        try:
            d = dt.date(year, month, day)
        except ValueError:
            continue
        if year in YEARS:
            spans.append((d - day_margin, d + day_margin))
    text = _DAY_DATE.sub(" ", text)
    for m in _MONTH_DATE.finditer(text):
        year = int(m["year"])
        if year in YEARS:
            a, b = _month_span(year, MONTHS[m["month"].lower()])
            spans.append((a - month_margin, b + month_margin))
    if not spans:   # a bare year counts only when no month or day is named ("funds for 2022" next to "June 2021")
        for m in _YEAR.finditer(text):
            year = int(m["year"])
            spans.append((dt.date(year, 1, 1) - month_margin, dt.date(year, 12, 31) + month_margin))
    if not spans:
        return None
    return min(a for a, _ in spans).isoformat(), max(b for _, b in spans).isoformat()
