"""The chat app's event handlers: ask (streamed answer, survey, or retrieval only) and add uploaded transcripts.
Takes the index, the user's message, history and filters (or uploaded files); gives chat bubbles, panels and the chart.

A message is a survey when rag.survey.intent says so ("What did officials say about X?", "Who talked about X?"),
or a short follow-up that narrows the last survey ("and in 2023?", "only Kirby"); the "Answer as" choice forces
either way. A survey fills the chat with its overview, the panel with its timeline and the chart with its counts.
"""
from __future__ import annotations

import datetime
from dataclasses import asdict
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Iterator, Optional

import gradio as gr
import pandas as pd   # Gradio's plots take a DataFrame (pandas comes with Gradio)

from rag.answer import Done, Passages, Status, Text
from rag.errors import RagError
from rag.llm import describe as describe_model
from rag.records import Answer, Survey
from rag.survey.chart import chart_rows
from rag.survey.intent import SurveyRequest, narrowed, survey_request
from ui import render
from ui.background import BackgroundVectors

log = logging.getLogger(__name__)
ANY = "any"
AUTO, ANSWER, SURVEY = "auto", "answer", "survey"   # the "Answer as" choice
MODES = (AUTO, ANSWER, SURVEY)
CHART_COLUMNS = ["period", "speaker", "briefings"]


def describe(index) -> str:
    """One status line about the loaded index."""
    if index is None:
        return "no index loaded"
    try:
        docs = sum(1 for d in index.documents if not d.get("duplicate_of"))
        return f"{docs} briefings, {len(index)} passages"
    except Exception:  # a status line must never break the page
        try:
            return f"{len(index)} passages"
        except Exception:
            return "loaded"


def _opt(value: Optional[str]) -> Optional[str]:
    value = (value or "").strip()
    return None if not value or value == ANY else value


def filters_from(speaker, publisher, kind, date_from, date_to) -> dict[str, Any]:
    """Search filters from the UI's fields ("any" and blanks dropped); RagError for a malformed date."""
    for label, value in (("From date", date_from), ("To date", date_to)):
        if _opt(value):
            try:
                datetime.date.fromisoformat(_opt(value))
            except ValueError:
                raise RagError(f"{label}: {_opt(value)!r} is not a date; use YYYY-MM-DD") from None
    return {k: v for k, v in dict(speaker=_opt(speaker), publisher=_opt(publisher), kind=_opt(kind),
                                   date_from=_opt(date_from), date_to=_opt(date_to)).items() if v}


def chart_update(survey: Optional[Survey]):
    """The bar plot's new state: the survey's counts, or hidden when there is no survey to chart."""
    rows = chart_rows(survey) if survey is not None and not survey.abstained else []
    if not rows:
        return gr.update(value=pd.DataFrame(columns=CHART_COLUMNS), visible=False)
    return gr.update(value=pd.DataFrame(rows, columns=CHART_COLUMNS), visible=True,
                     x_title=f"briefings per {survey.granularity}", y_title="briefings")


def survey_of(message: str, mode: str, last: Optional[dict]) -> Optional[SurveyRequest]:
    """The survey a message asks for (rag.survey.intent), a narrowed `last` survey, or None for an answer."""
    if mode == ANSWER:
        return None
    if last:
        follow = narrowed(message, SurveyRequest(**last))
        if follow:
            return follow
    request = survey_request(message)
    if request is None and mode == SURVEY:
        request = SurveyRequest(message.strip().rstrip("?.! "))
    return request


def _assistant(content: str) -> dict:
    return {"role": "assistant", "content": content}


def _user(content: str) -> dict:
    return {"role": "user", "content": content}


def answer_markdown(answer: Answer) -> str:
    """The final chat bubble for an answer (transcript text escaped)."""
    body = render.chat_text(answer.answer)
    if answer.abstained or not answer.citations:
        head = f"**{render.NOT_COVERED}.**"
        if render.NOT_COVERED.lower() not in (answer.answer or "").lower():
            body = f"{head} {body}" if body else head
    total = (answer.timings or {}).get("total_s")
    if total:
        n = len(answer.passages)
        body += f"\n\n<sub>{n} passage{'s' if n != 1 else ''} searched · {total:.1f} s</sub>"
    return body


def hits_markdown(hits) -> str:
    if not hits:
        return "No passage matched this search (check the filters)."
    lines = ["**Top passages (retrieval only, no generated answer):**", ""]
    for i, h in enumerate(hits, 1):
        lines.append(f"{i}. {render.chat_text(h.speaker or 'Unattributed')} — "
                     f"*{render.chat_text(h.title)}* ({render.chat_text(h.date or 'no date')})")
    return "\n".join(lines)


STATUS_TEXT = {"searching": "Searching the briefings…", "writing": "Writing a short summary…",
               "checking": "Checking the answer against the passages…"}


def _events(index, question: str, history: list, ask_kwargs: dict) -> Iterator[tuple[str, Any]]:
    """('status'|'passages'|'token'|'answer', value) from index.ask_stream; 'answer' comes last."""
    for ev in index.ask_stream(question, history=history, **ask_kwargs):
        if isinstance(ev, Text):
            yield "token", ev.text
        elif isinstance(ev, Done):
            yield "answer", ev.answer
        elif isinstance(ev, Status):
            yield "status", STATUS_TEXT.get(ev.text, ev.text)
        elif isinstance(ev, Passages):
            yield "passages", ev.passages or []


def _failure(e: BaseException) -> str:
    if isinstance(e, RagError):
        return f"**Could not answer:** {render.chat_text(str(e))}"
    log.exception("question failed")
    return (f"**Something went wrong while answering** ({render.chat_text(type(e).__name__)}: "
            f"{render.chat_text(str(e)[:300])}). The details are in the server log.")


class ChatHandlers:
    """The functions the app's events run, over one index (None when loading failed: `status` says why)."""

    def __init__(self, index, status: str = "", upload_dir: Optional[str | os.PathLike] = None,
                 model: Optional[str] = None, k: int = 5, background: Optional[BackgroundVectors] = None):
        self.index, self.status, self.k = index, status, k
        self.background = background     # phase 2 of an ingest running beside the app (ui.background)
        self.upload_dir = Path(upload_dir) if upload_dir else None
        self.ask_kwargs: dict[str, Any] = {"k": k, **({"model": model} if model else {})}

    def status_line(self) -> str:
        base = describe(self.index)
        try:
            model = describe_model(self.ask_kwargs.get("model"))
        except RagError as e:   # a status line must never break the page
            model = str(e)
        vectors = self.background.status() if self.background else ""
        return (f"<span id='status-line'>Index: {render.esc(base)}. Model: {render.esc(model)}. "
                + (f"<span id='vector-progress'>{render.esc(vectors)}.</span> " if vectors else "")
                + f"{render.esc(self.status)}</span>")

    def respond(self, message, chat, history, speaker, publisher, kind, date_from, date_to, retrieval_only,
                mode=AUTO, last_survey=None):
        """Yields (chat, history, sources panel, question box, chart, last survey) as the reply forms."""
        message = (message or "").strip()
        chat = list(chat or [])
        history = list(history or [])
        if not message:
            yield chat, history, gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        chat += [_user(render.chat_text(message)), _assistant("*Searching the briefings…*")]
        yield chat, history, render.render_message("Searching…"), "", gr.skip(), gr.skip()
        index = self.index
        if index is None:
            chat[-1] = _assistant(f"**The index is not available:** {render.chat_text(self.status)}")
            yield chat, history, render.render_message(self.status or "No index loaded.", "error"), "", \
                chart_update(None), None
            return
        try:
            filters = filters_from(speaker, publisher, kind, date_from, date_to)
            if retrieval_only:
                hits = index.search(message, k=self.k, **filters)
                chat[-1] = _assistant(hits_markdown(hits))
                yield chat, history, render.render_hits(hits), "", chart_update(None), None
                return
            request = survey_of(message, mode or AUTO, last_survey)
            if request is not None:
                chat[-1] = _assistant(f"*Surveying every briefing on “{render.chat_text(request.topic)}”…*")
                yield chat, history, render.render_message("Surveying…"), "", gr.skip(), gr.skip()
                survey = index.survey(request.topic, **{**filters, **request.filters()})
                chat[-1] = _assistant(render.survey_markdown(survey))
                history += [{"role": "user", "content": message}, {"role": "assistant", "content": survey.overview}]
                yield chat, history, render.render_survey(survey), "", chart_update(survey), asdict(request)
                return
            text, answer = "", None
            for kind_, value in _events(index, message, history, {**self.ask_kwargs, **filters}):
                if kind_ == "token":
                    text += value
                    chat[-1] = _assistant(render.chat_text(text) + " ▌")
                    yield chat, history, gr.skip(), "", gr.skip(), gr.skip()
                elif kind_ == "status":   # before any text, or under the digest while the model writes
                    shown = render.chat_text(text) + "\n\n" if text else ""
                    chat[-1] = _assistant(f"{shown}*{render.chat_text(value)}*")
                    yield chat, history, gr.skip(), "", gr.skip(), gr.skip()
                elif kind_ == "passages":
                    yield chat, history, render.render_hits(value, heading="Retrieved passages (writing the answer…)", pending=True), "", chart_update(None), None
                elif kind_ == "answer":
                    answer = value
            if answer is None:
                raise RagError("the answer stream ended without an answer")
            chat[-1] = _assistant(answer_markdown(answer))
            history += [{"role": "user", "content": message}, {"role": "assistant", "content": answer.answer}]
            yield chat, history, render.render_answer_sources(answer), "", chart_update(None), None
        except Exception as e:  # shown in the chat, never as a stack trace
            chat[-1] = _assistant(_failure(e))
            yield chat, history, render.render_message("No sources: the question failed.", "error"), "", \
                chart_update(None), last_survey

    def add_files(self, files, progress=gr.Progress(track_tqdm=True)):
        index = self.index
        files = [f if isinstance(f, str) else getattr(f, "name", str(f)) for f in (files or [])]
        if not files:
            return "Choose one or more transcript files first.", self.status_line()
        if index is None or self.upload_dir is None:
            return f"Cannot add transcripts: {render.esc(self.status or 'no index loaded')}", self.status_line()
        skipped: list[tuple[str, str]] = []
        accepted: list[Path] = []
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        for f in progress.tqdm(files, desc="Checking uploads"):
            name = Path(f).name
            reason = render.check_upload(f, name)
            if reason:
                skipped.append((name, reason))
                continue
            dest = _unique(self.upload_dir / render.sanitize_filename(name), Path(f))
            if not dest.exists():
                shutil.copyfile(f, dest)
            accepted.append(dest)
        report = None
        if accepted:
            progress(0.3, desc=f"Indexing {len(accepted)} file(s)")
            try:
                # while the background thread embeds, an upload is added lexically and that thread embeds it
                background = self.background.running() if self.background else False
                report = index.add([str(p) for p in accepted], progress=True, lexical_only=background)
                if self.background:
                    self.background.ensure()
            except Exception as e:
                return _failure(e).replace("while answering", "while indexing"), self.status_line()
        return _upload_report(accepted, skipped, report), self.status_line()


def _unique(dest: Path, src: Path) -> Path:
    """`dest`, or dest-1, dest-2 ... when a different file already has that name."""
    if not dest.exists() or _same(dest, src):
        return dest
    for i in range(1, 10_000):
        cand = dest.with_name(f"{dest.stem}-{i}{dest.suffix}")
        if not cand.exists() or _same(cand, src):
            return cand
    raise RagError(f"too many uploads named {dest.name}")


def _same(a: Path, b: Path) -> bool:
    try:
        return a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()
    except OSError:
        return False


def _upload_report(accepted: list[Path], skipped: list[tuple[str, str]], report) -> str:
    """Markdown summary of an upload: what was indexed, what was skipped and why.

    `report` is the index's IngestReport (added, updated, unchanged, duplicates, skipped)."""
    def name(p) -> str:
        return render.chat_text(Path(str(p)).name)

    lines = []
    if report is not None:
        added, updated = list(report.added), list(report.updated)
        if added:
            lines.append(f"**Added {len(added)} transcript(s):** " + ", ".join(name(p) for p in added))
        if updated:
            lines.append(f"**Updated {len(updated)} transcript(s):** " + ", ".join(name(p) for p in updated))
        if report.unchanged:
            lines.append(f"{report.unchanged} file(s) were already in the index, unchanged.")
        if report.duplicates:
            lines.append("\n".join(f"- {name(p)}: same transcript as {name(same)}, indexed once"
                                   for p, same in report.duplicates))
        skipped = skipped + [(Path(str(p)).name, r) for p, r in report.skipped]
    elif accepted:
        lines.append("Nothing was indexed.")
    if skipped:
        lines.append(f"**Skipped {len(skipped)} file(s):**\n\n"
                     + "\n".join(f"- {render.chat_text(n)}: {render.chat_text(r)}" for n, r in skipped))
    return "\n\n".join(lines) or "Nothing to do."
