"""HTML for the chat UI: the sources panel, the chat bubbles, and upload checks.
Takes answers, hits and uploaded file names; gives escaped HTML and Markdown, and upload verdicts.

Everything that comes from a transcript (titles, speakers, quotes, answer text) is
escaped here before it reaches the browser, so markup or script inside a scraped
page shows as text and never runs.
"""
from __future__ import annotations

import html
import re
import unicodedata
from pathlib import Path
from typing import Iterable, Optional
from urllib.parse import urlparse

from rag.records import MODERATOR, OPERATOR, QUESTIONER, Answer, Citation, Hit, Survey
from rag.survey.compose import shown_with_question

NOT_COVERED = "Not covered by the indexed briefings"
UPLOAD_TYPES = (".txt", ".md", ".html", ".htm")
UPLOAD_MAX_BYTES = 20 * 1024 * 1024
CONTEXT_CHARS = 320  # characters of the passage shown either side of a cited quote

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]#|~])")


def esc(text: Optional[str]) -> str:
    return html.escape(text or "", quote=True)


def safe_url(url: Optional[str]) -> Optional[str]:
    """The URL when it is a plain http(s) link, else None (no javascript:, data:, ...)."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlparse(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def chat_text(text: str) -> str:
    """Transcript-derived text for a chat bubble (rendered as Markdown): shown literally.

    HTML is escaped and Markdown syntax is backslash-escaped, so `<script>` or `**` in a
    transcript prints as typed. Citation markers like [1] still read [1].
    """
    text = html.escape(text or "", quote=False)
    return _MD_SPECIAL.sub(r"\\\1", text)


_QUOTE_CLASS = {ch: "['‘’]" for ch in "'‘’"} | {ch: '["“”]' for ch in '"“”'}


def _norm_ws(s: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", s or "")).strip()


def find_quote(passage: str, quote: str, start: int = 0) -> Optional[tuple[int, int]]:
    """(start, end) of `quote` inside `passage`, ignoring case, spacing and curly quotes."""
    quote = _norm_ws(quote).strip(" .…\"'“”‘’")
    if not quote or not passage:
        return None
    pattern = r"\s+".join("".join(_QUOTE_CLASS.get(ch) or re.escape(ch) for ch in w) for w in quote.split(" "))
    m = re.compile(pattern, flags=re.IGNORECASE).search(passage, start)
    return (m.start(), m.end()) if m else None


def find_quote_spans(passage: str, quote: str) -> Optional[list[tuple[int, int]]]:
    """Spans of the quote's parts in order; a quote may skip words with an ellipsis ("A … B")."""
    parts = [p for p in re.split(r"\s*(?:…|\.\.\.)\s*", quote or "") if p.strip(" .\"'“”‘’")]
    spans, pos = [], 0
    for part in parts:
        span = find_quote(passage, part, pos)
        if span is None:
            return None
        spans.append(span)
        pos = span[1]
    return spans or None


def highlight(passage: str, quote: str, context: int = CONTEXT_CHARS) -> str:
    """Escaped HTML of the passage around `quote`, with the quoted words in <mark>.

    When the quote cannot be found in the passage the quote itself is shown, marked.
    """
    spans = find_quote_spans(passage, quote)
    if not spans:
        return f"<mark>{esc(quote)}</mark>" if quote else esc(_clip(passage, 2 * context))
    a, b = spans[0][0], spans[-1][1]
    start = max(0, a - context)
    end = min(len(passage), b + context)
    if start > 0:  # cut at a word boundary
        sp = passage.find(" ", start, a)
        start = sp + 1 if sp != -1 else start
    if end < len(passage):
        sp = passage.rfind(" ", b, end)
        end = sp if sp != -1 else end
    out, pos = ["… " if start > 0 else ""], start
    for x, y in spans:
        out.append(f"{esc(passage[pos:x])}<mark>{esc(passage[x:y])}</mark>")
        pos = y
    out.append(esc(passage[pos:end]) + (" …" if end < len(passage) else ""))
    return "".join(out)


def _clip(text: str, n: int) -> str:
    text = text or ""
    if len(text) <= n:
        return text
    cut = text.rfind(" ", 0, n)
    return text[: cut if cut > 0 else n] + " …"


def _meta(title: str, url: Optional[str], date: Optional[str], publisher: Optional[str] = None,
          kind: Optional[str] = None, dense: bool = True) -> str:
    link = safe_url(url)
    t = esc(title or "Untitled briefing")
    title_html = (f'<a class="src-title" href="{esc(link)}" target="_blank" rel="noopener noreferrer">{t}</a>'
                  if link else f'<span class="src-title">{t}</span>')
    # a passage found by its words alone while the archive's vectors are still being embedded (Hit.dense)
    bits = [esc(x) for x in (date or "date not given", publisher, kind,
                             None if dense else "found by its words (vectors pending)") if x]
    return f'{title_html}<div class="src-meta">{" · ".join(bits)}</div>'


ROLE_NOTES = {QUESTIONER: "a reporter's question, not an official's words", MODERATOR: "moderator",
              OPERATOR: "call operator"}


def _speaker(speaker: Optional[str], role: Optional[str] = None) -> str:
    who = esc(speaker) if speaker else "Unattributed text (no speaker label)"
    note = ROLE_NOTES.get(role or "", role)
    r = f' <span class="src-role">({esc(note)})</span>' if note and speaker else ""
    return f'<div class="src-speaker role-{esc(role or "none")}">{who}{r}</div>'


def _question(hit: Optional[Hit]) -> str:
    if hit is None or not hit.question:
        return ""
    return _asked(hit.question, hit.question_speaker)


def _asked(question: str, asker: Optional[str] = None) -> str:
    return (f'<div class="src-question">In reply to {esc(asker or "QUESTION")}: '
            f'“{esc(_clip(question, 240))}”</div>')


def _quote_link(url: Optional[str]) -> str:
    """A link that opens the briefing's page scrolled to the quote, highlighted (rag.links); nothing without a URL."""
    link = safe_url(url)
    return (f'<a class="src-quote-link" href="{esc(link)}" target="_blank" rel="noopener noreferrer">'
            f'open the page at this quote</a>' if link and "#:~:text=" in link else "")


def citation_card(c: Citation, hit: Optional[Hit]) -> str:
    body = highlight(hit.text, c.quote) if hit is not None else f"<mark>{esc(c.quote)}</mark>"
    meta = _meta(c.title, c.source_url, c.date, hit.publisher if hit else None, hit.kind if hit else None,
                 hit.dense if hit else True)
    return (f'<div class="src-card" id="src-{int(c.n)}" data-chunk="{esc(c.chunk_id)}">'
            f'<div class="src-n">[{int(c.n)}]</div><div class="src-body">'
            f'{_speaker(c.speaker, hit.role if hit else None)}{meta}'
            f'{_question(hit)}<div class="src-quote">{body}</div>{_quote_link(c.quote_url)}</div></div>')


def hit_card(h: Hit, label: str) -> str:
    return (f'<div class="src-card" data-chunk="{esc(h.chunk_id)}"><div class="src-n">{esc(label)}</div>'
            f'<div class="src-body">'
            f'{_speaker(h.speaker, h.role)}{_meta(h.title, h.source_url, h.date, h.publisher, h.kind, h.dense)}'
            f'{_question(h)}<div class="src-quote">{esc(_clip(h.text, 2 * CONTEXT_CHARS))}</div>'
            f'</div></div>')


def render_answer_sources(answer: Answer) -> str:
    """The sources panel for an answer: its citations, or the closest passages when it abstained."""
    if answer.abstained or not answer.citations:
        return render_hits(answer.passages, heading=f"{NOT_COVERED} — closest passages", not_covered=True)
    by_id = {h.chunk_id: h for h in answer.passages}
    cards = "".join(citation_card(c, by_id.get(c.chunk_id)) for c in sorted(answer.citations, key=lambda c: c.n))
    return f'<div class="sources final"><h3 class="src-heading">Sources</h3>{cards}</div>'


def render_hits(hits: Iterable[Hit], heading: str = "Top passages", not_covered: bool = False,
                pending: bool = False) -> str:
    """Passages as cards. `pending`: shown while the answer is still being written."""
    hits = list(hits)
    cls = "sources" + (" not-covered" if not_covered else "") + (" pending" if pending else " final")
    if not hits:
        return (f'<div class="{cls}"><h3 class="src-heading">{esc(heading)}</h3>'
                f'<p class="src-empty">No passage matched (check the filters).</p></div>')
    cards = "".join(hit_card(h, f"#{i}") for i, h in enumerate(hits, 1))
    return f'<div class="{cls}"><h3 class="src-heading">{esc(heading)}</h3>{cards}</div>'


def survey_markdown(survey: Survey) -> str:
    """The chat bubble of a survey: the overview, its threads and who said it most (the timeline is in the panel)."""
    body = chat_text(survey.overview)
    fewer = ("**Fewer words find more:** " + ", ".join(
        f"“{chat_text(w.topic)}” ({w.briefings} briefing{'s' if w.briefings != 1 else ''})" for w in survey.wordings)
        + ". Ask for one to see them.") if survey.wordings else ""
    if survey.abstained:
        return f"**{NOT_COVERED}.** {body}" + (f"\n\n{fewer}" if fewer else "")
    lines = [body] + ([fewer] if fewer else [])
    if survey.threads:
        lines.append("**Threads:** " + "; ".join(
            f"{chat_text(t.label)} ({', '.join(f'[{n}]' for n in t.statements[:6])}"
            f"{', …' if len(t.statements) > 6 else ''})" for t in survey.threads))
    lines.append("**Who said it most:** " + ", ".join(f"{chat_text(c.speaker)} ({c.briefings})"
                                                      for c in survey.speakers[:6]))
    total = (survey.timings or {}).get("total_s")
    lines.append(f"<sub>Survey of {len(survey.statements)} briefing{'s' if len(survey.statements) != 1 else ''}: "
                 f"timeline and chart beside the chat{f' · {total:.1f} s' if total else ''}. A follow-up such as "
                 f"“and in 2023?” or “only Kirby” narrows it.</sub>")
    return "\n\n".join(lines)


def render_survey(survey: Survey) -> str:
    """The sources panel of a survey: its timeline, each statement a card with its [n], speaker, briefing and quote."""
    if survey.abstained:
        return render_message(survey.overview, "not-covered")
    by_n = {s.n: s for s in survey.statements}
    parts = []
    for p in survey.timeline:
        cards = []
        for n in p.statements:
            s = by_n[n]
            thread = survey.thread_label(s)
            cards.append(f'<div class="src-card" id="src-{int(n)}" data-chunk="{esc(s.chunk_id)}">'
                         f'<div class="src-n">[{int(n)}]</div><div class="src-body">'
                         f'{_speaker(s.speaker, s.role)}{_meta(s.title, s.source_url, s.date, s.publisher, s.kind)}'
                         + (f'<div class="src-thread">thread: {esc(thread)}</div>' if thread else "")
                         + (_asked(s.question) if shown_with_question(s) else "")
                         + f'<div class="src-quote"><mark>{esc(s.quote)}</mark></div>{_quote_link(s.quote_url)}'
                         '</div></div>')
        count = len(p.statements)
        parts.append(f'<div class="survey-period"><h4>{esc(p.label)} · {count} briefing{"s" if count != 1 else ""}'
                     f'</h4>{"".join(cards)}</div>')
    return (f'<div class="sources final survey" id="survey-timeline"><h3 class="src-heading">Timeline: '
            f'{len(survey.statements)} briefings on “{esc(survey.topic)}”</h3>{"".join(parts)}</div>')


def render_message(text: str, kind: str = "info") -> str:
    """A short notice in the sources panel (errors, empty states)."""
    final = "" if kind == "info" else " final"
    return f'<div class="sources{final}"><p class="src-{esc(kind)}">{esc(text)}</p></div>'


EMPTY_PANEL = ('<div class="sources"><h3 class="src-heading">Sources</h3>'
               '<p class="src-empty">Ask a question: each passage the answer cites appears here, '
               'with who said it, in which briefing, and when.</p></div>')


# ---- uploads ---------------------------------------------------------------

def sanitize_filename(name: str, max_len: int = 120) -> str:
    """A safe base name for an uploaded file: no folders, no traversal, no hidden or odd characters."""
    name = unicodedata.normalize("NFKC", name or "")
    name = name.replace("\\", "/").split("/")[-1]          # drop any folder part, Windows or POSIX
    name = re.sub(r"[^\w.\- ]+", "_", name, flags=re.UNICODE).strip(" .")
    name = re.sub(r"[\s_]+", "_", name)
    name = re.sub(r"\.{2,}", ".", name)
    if not name or set(name) <= {"_", "."}:
        name = "upload"
    stem, dot, ext = name.rpartition(".")
    if dot and len(ext) <= 8:
        stem = stem[: max_len - len(ext) - 1] or "upload"
        return f"{stem}.{ext}"
    return name[:max_len]


def check_upload(path: str | Path, original_name: Optional[str] = None,
                 max_bytes: int = UPLOAD_MAX_BYTES) -> Optional[str]:
    """Why an uploaded file is refused, or None when it may be ingested."""
    path = Path(path)
    name = original_name or path.name
    ext = Path(name).suffix.lower()
    if ext not in UPLOAD_TYPES:
        return f"type {ext or '(none)'} is not accepted (use {', '.join(UPLOAD_TYPES)})"
    try:
        size = path.stat().st_size
    except OSError as e:
        return f"cannot read the uploaded file ({e.strerror or e})"
    if size > max_bytes:
        return f"{size / 1e6:.1f} MB is over the {max_bytes // (1024 * 1024)} MB limit"
    if size == 0:
        return "the file is empty"
    return None
