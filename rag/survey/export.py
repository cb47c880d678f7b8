"""Survey exports a journalist can paste: Markdown (overview, timeline, threads, who, sources) and CSV.
Takes a `Survey`; gives text. Every citation carries date, title, URL, speaker and the verbatim quote; the
timeline's titles link to the page at the quote, and the CSV's `quote_url` holds that link (rag.links).

`read_csv` reads the CSV back into rows (the export's round trip is tested); the JSON export is
`Survey.to_dict()` (rag.records), read back by `Survey.from_dict`.
"""
from __future__ import annotations

import csv
import io

from rag.records import Survey
from rag.survey.compose import long_date

# `url` is the briefing's page; `quote_url` the same page scrolled to the quote (rag.links)
CSV_FIELDS = ("n", "date", "title", "url", "speaker", "quote", "publisher", "kind", "thread", "passages", "path",
              "chunk_id", "quote_url")


def to_csv(survey: Survey) -> str:
    """One row per statement, in date order."""
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for s in survey.statements:
        w.writerow({"n": s.n, "date": s.date or "", "title": s.title, "url": s.source_url or "",
                    "speaker": s.speaker or "", "quote": s.quote, "publisher": s.publisher or "", "kind": s.kind,
                    "thread": survey.thread_label(s),
                    "passages": s.passages, "path": s.path, "chunk_id": s.chunk_id, "quote_url": s.quote_url or ""})
    return out.getvalue()


def read_csv(text: str) -> list[dict]:
    """The rows of a `to_csv` export, `n` and `passages` as numbers."""
    rows = list(csv.DictReader(io.StringIO(text)))
    for r in rows:
        r["n"], r["passages"] = int(r["n"]), int(r["passages"])
    return rows


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _link(title: str, url: str | None) -> str:
    title = _cell(title).replace("[", "\\[").replace("]", "\\]")
    return f"[{title}]({url})" if url else title


def to_markdown(survey: Survey) -> str:
    """The whole survey as Markdown; the Sources table holds every citation."""
    lines = [f"# What officials said about “{survey.topic}”", "", survey.overview, ""]
    if survey.abstained:
        return "\n".join(lines)
    by_n = {s.n: s for s in survey.statements}
    lines += [f"## Timeline (by {survey.granularity})", ""]
    for p in survey.timeline:
        lines += [f"### {p.label} ({len(p.statements)} briefing{'s' if len(p.statements) != 1 else ''})", ""]
        for n in p.statements:
            s = by_n[n]
            lines.append(f"- [{n}] {long_date(s.date) if s.date else 'date not given'}, {_cell(s.speaker or '')}, "
                         f"{_link(s.title, s.quote_url)}: “{_cell(s.quote)}”")
        lines.append("")
    if survey.threads:
        lines += ["## Threads", ""]
        lines += [f"- **{t.label}**: " + ", ".join(f"[{n}]" for n in t.statements) for t in survey.threads]
        lines.append("")
    lines += ["## Who said it most", "", "| speaker | briefings |", "|---|---|"]
    lines += [f"| {_cell(c.speaker)} | {c.briefings} |" for c in survey.speakers]
    lines += ["", "## Sources", "", "| n | date | title | url | speaker | quote |", "|---|---|---|---|---|---|"]
    lines += [f"| {s.n} | {s.date or ''} | {_cell(s.title)} | {s.source_url or ''} | {_cell(s.speaker or '')} | "
              f"{_cell(s.quote)} |" for s in survey.statements]
    return "\n".join(lines) + "\n"
