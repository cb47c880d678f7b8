"""The Gradio chat app: `rag serve` calls `serve(args)`; tests call `build_app(index)`.

- Ask tab: a chat with streamed answers and follow-up questions, filters (speaker, publisher,
  kind, dates), a retrieval-only switch, and beside the chat a sources panel listing each cited
  passage (speaker, briefing title linked to its page, date, the cited words highlighted).
- Add transcripts tab: upload .txt/.md/.html files (20 MB each at most), index them with a
  progress bar, and list the files that were skipped and why.
- Exposure: binds 127.0.0.1 by default; binding any other address needs a password
  (user "rag", --password or RAG_PASSWORD) unless --no-auth is given.
- Concurrency: the queue runs up to CONCURRENCY chats at once; the language model is shared
  (rag.llm serialises generation), retrieval runs in parallel.
"""
from __future__ import annotations

import argparse
import datetime
import ipaddress
import logging
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import gradio as gr

from rag.errors import RagError
from rag.records import KINDS, STATE, WHITE_HOUSE, Answer
from ui import render

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CORPUS = ROOT / "data" / "briefings"
CSS_PATH = Path(__file__).resolve().parent / "static" / "app.css"
CONCURRENCY = 8
QUEUE_MAX = 64
USER = "rag"
K = 5

EXAMPLES = [
    "What did officials say about the policy review on North Korea?",
    "What did Secretary Blinken say about Russia and Ukraine at Reuters NEXT?",
    "What arms control process did Biden and Putin agree to launch at their summit?",
    "Which Central Asian countries took part in the C5+1 meeting during UN General Assembly week?",
    "What did the National Security Advisor discuss with his PRC counterpart in Rome?",
]
SPEAKER_CHOICES = ["official", "questioner", "moderator"]
ANY = "any"


# ---- helpers ---------------------------------------------------------------

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
        kind = ev.get("type")
        if kind == "token":
            yield "token", ev.get("text", "")
        elif kind == "answer":
            yield "answer", ev["answer"]
        elif kind == "status":
            yield "status", STATUS_TEXT.get(ev.get("text"), ev.get("text", ""))
        elif kind == "passages":
            yield "passages", ev.get("passages") or []


def _failure(e: BaseException) -> str:
    if isinstance(e, RagError):
        return f"**Could not answer:** {render.chat_text(str(e))}"
    log.exception("question failed")
    return (f"**Something went wrong while answering** ({render.chat_text(type(e).__name__)}: "
            f"{render.chat_text(str(e)[:300])}). The details are in the server log.")


# ---- the app -----------------------------------------------------------------

def build_app(index, *, status: str = "", upload_dir: Optional[str | os.PathLike] = None,
              model: Optional[str] = None, k: int = K, speakers: Optional[list[str]] = None) -> gr.Blocks:
    """The Blocks app over an opened Index (or None, when loading failed: `status` says why)."""
    state = {"index": index}
    upload_dir = Path(upload_dir) if upload_dir else None
    ask_kwargs: dict[str, Any] = {"k": k}
    if model:
        ask_kwargs["model"] = model

    def status_line() -> str:
        base = describe(state["index"])
        return f"<span id='status-line'>Index: {render.esc(base)}. {render.esc(status)}</span>"

    def respond(message, chat, history, speaker, publisher, kind, date_from, date_to, retrieval_only):
        message = (message or "").strip()
        chat = list(chat or [])
        history = list(history or [])
        if not message:
            yield chat, history, gr.skip(), gr.skip()
            return
        chat += [_user(render.chat_text(message)), _assistant("*Searching the briefings…*")]
        yield chat, history, render.render_message("Searching…"), ""
        index = state["index"]
        if index is None:
            chat[-1] = _assistant(f"**The index is not available:** {render.chat_text(status)}")
            yield chat, history, render.render_message(status or "No index loaded.", "error"), ""
            return
        try:
            filters = filters_from(speaker, publisher, kind, date_from, date_to)
            if retrieval_only:
                hits = index.search(message, k=k, **filters)
                chat[-1] = _assistant(hits_markdown(hits))
                yield chat, history, render.render_hits(hits), ""
                return
            text, answer = "", None
            for kind_, value in _events(index, message, history, {**ask_kwargs, **filters}):
                if kind_ == "token":
                    text += value
                    chat[-1] = _assistant(render.chat_text(text) + " ▌")
                    yield chat, history, gr.skip(), ""
                elif kind_ == "status":   # before any text, or under the digest while the model writes
                    shown = render.chat_text(text) + "\n\n" if text else ""
                    chat[-1] = _assistant(f"{shown}*{render.chat_text(value)}*")
                    yield chat, history, gr.skip(), ""
                elif kind_ == "passages":
                    yield chat, history, render.render_hits(value, heading="Retrieved passages (writing the answer…)", pending=True), ""
                elif kind_ == "answer":
                    answer = value
            if answer is None:
                raise RagError("the answer stream ended without an answer")
            chat[-1] = _assistant(answer_markdown(answer))
            history += [{"role": "user", "content": message}, {"role": "assistant", "content": answer.answer}]
            yield chat, history, render.render_answer_sources(answer), ""
        except Exception as e:  # shown in the chat, never as a stack trace
            chat[-1] = _assistant(_failure(e))
            yield chat, history, render.render_message("No sources: the question failed.", "error"), ""

    def add_files(files, progress=gr.Progress(track_tqdm=True)):
        index = state["index"]
        files = [f if isinstance(f, str) else getattr(f, "name", str(f)) for f in (files or [])]
        if not files:
            return "Choose one or more transcript files first.", status_line()
        if index is None or upload_dir is None:
            return f"Cannot add transcripts: {render.esc(status or 'no index loaded')}", status_line()
        skipped: list[tuple[str, str]] = []
        accepted: list[Path] = []
        upload_dir.mkdir(parents=True, exist_ok=True)
        for f in progress.tqdm(files, desc="Checking uploads"):
            name = Path(f).name
            reason = render.check_upload(f, name)
            if reason:
                skipped.append((name, reason))
                continue
            dest = _unique(upload_dir / render.sanitize_filename(name), Path(f))
            if not dest.exists():
                shutil.copyfile(f, dest)
            accepted.append(dest)
        report = None
        if accepted:
            progress(0.3, desc=f"Indexing {len(accepted)} file(s)")
            try:
                report = index.add([str(p) for p in accepted], progress=True)
            except Exception as e:
                return _failure(e).replace("while answering", "while indexing"), status_line()
        return _upload_report(accepted, skipped, report), status_line()

    with gr.Blocks(title="Briefing Q&A", fill_width=True) as demo:
        history = gr.State([])
        with gr.Row(elem_id="header"):
            gr.Markdown("## Press briefing Q&A\nAsk about State Department and White House briefings. "
                        "Every answer cites the briefing and the person who said it.")
        status_md = gr.Markdown(status_line(), elem_id="status")
        with gr.Tab("Ask", id="ask"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=420):
                    chatbot = gr.Chatbot(elem_id="chat", height=520, label="Answers",
                                         feedback_options=None, buttons=["copy"],
                                         placeholder="Ask a question about the indexed briefings.")
                    with gr.Row():
                        question = gr.Textbox(elem_id="question", show_label=False, scale=6,
                                              placeholder="e.g. What did Secretary Blinken say about Ukraine?",
                                              max_length=1000)
                        ask_btn = gr.Button("Ask", variant="primary", scale=1, elem_id="ask-button")
                        clear_btn = gr.Button("New chat", scale=1, elem_id="new-chat")
                    with gr.Accordion("Filters", open=False, elem_id="filters"):
                        with gr.Row():
                            speaker = gr.Dropdown([ANY] + SPEAKER_CHOICES + (speakers or []), value=ANY,
                                                  allow_custom_value=True, label="Speaker",
                                                  info="a role, or a name such as Blinken")
                            publisher = gr.Dropdown([ANY, STATE, WHITE_HOUSE], value=ANY, label="Publisher")
                            kind = gr.Dropdown([ANY] + list(KINDS), value=ANY, label="Kind")
                        with gr.Row():
                            date_from = gr.Textbox(label="From date", placeholder="YYYY-MM-DD", max_length=10)
                            date_to = gr.Textbox(label="To date", placeholder="YYYY-MM-DD", max_length=10)
                            retrieval_only = gr.Checkbox(label="Retrieval only (show top passages, no answer)",
                                                         elem_id="retrieval-only")
                    gr.Examples(EXAMPLES, inputs=question, label="Example questions")
                with gr.Column(scale=2, min_width=320):
                    sources = gr.HTML(render.EMPTY_PANEL, elem_id="sources", js_on_load=None)
        with gr.Tab("Add transcripts", id="add"):
            gr.Markdown(f"Upload transcripts ({', '.join(render.UPLOAD_TYPES)}; at most "
                        f"{render.UPLOAD_MAX_BYTES // (1024 * 1024)} MB each). They are added to the index "
                        "this app serves; files that cannot be read are listed with the reason.")
            files = gr.File(file_count="multiple", file_types=list(render.UPLOAD_TYPES), label="Transcripts",
                            elem_id="upload")
            add_btn = gr.Button("Add to index", variant="primary", elem_id="add-button")
            report = gr.Markdown(elem_id="upload-report")

        inputs = [question, chatbot, history, speaker, publisher, kind, date_from, date_to, retrieval_only]
        outputs = [chatbot, history, sources, question]
        # both ways of asking share one concurrency slot pool (CONCURRENCY chats at once, set by demo.queue)
        question.submit(respond, inputs, outputs, api_name="ask", concurrency_id="chat", show_progress="minimal")
        ask_btn.click(respond, inputs, outputs, api_name="ask_button", api_visibility="undocumented",
                      concurrency_id="chat", show_progress="minimal")
        clear_btn.click(lambda: ([], [], render.EMPTY_PANEL, ""), None, outputs, queue=False,
                        api_visibility="private")
        chatbot.clear(lambda: ([], render.EMPTY_PANEL), None, [history, sources], queue=False,
                      api_visibility="private")
        add_btn.click(add_files, [files], [report, status_md], api_name="add_transcripts", concurrency_limit=1)
        demo.load(status_line, None, status_md, queue=False, api_visibility="private")
    return demo


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


# ---- serve -------------------------------------------------------------------

def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, password: Optional[str], no_auth: bool) -> None:
    """Refuse to serve beyond this machine without a password, unless explicitly told to."""
    if is_loopback(host) or password or no_auth:
        return
    raise RagError(f"refusing to serve on {host} without a password: anyone who can reach this "
                   "machine could use the app and add files to the index. Give --password PASSWORD "
                   "(or set RAG_PASSWORD), or pass --no-auth to serve without one.")


def open_or_build(index_path: str | os.PathLike, corpus: Optional[str | os.PathLike] = None):
    """Open the index, or build it from `corpus` (default: the bundled sample) when the folder holds none."""
    from rag import Index
    from rag.store import Store
    path = Path(index_path)
    if Store(path).exists():
        t = time.perf_counter()
        index = Index.open(path)
        return index, f"Loaded from {path}/ in {time.perf_counter() - t:.1f} s."
    src = Path(corpus) if corpus else (Path("data/briefings") if Path("data/briefings").is_dir() else SAMPLE_CORPUS)
    if not src.exists():
        raise RagError(f"no index in {path}/ and the corpus {src} to build it from does not exist")
    print(f"rag serve: first start: building the index in {path}/ from {src} ...", file=sys.stderr, flush=True)
    t = time.perf_counter()
    index = Index.build([str(src)], path=str(path), progress=True)
    took = time.perf_counter() - t
    print(f"rag serve: index built in {took:.1f} s", file=sys.stderr, flush=True)
    return index, f"Built from {src} on first start in {took:.0f} s."


def launch_options(host: str, port: int, password: Optional[str]) -> dict[str, Any]:
    """Keyword arguments for `Blocks.launch`: address, login, upload size limit, styling."""
    return dict(server_name=host, server_port=port,
                auth=(USER, password) if password else None,
                auth_message="Briefing Q&A: log in as user 'rag' with the server's password." if password else None,
                max_file_size=render.UPLOAD_MAX_BYTES, css_paths=[CSS_PATH], theme=gr.themes.Soft(),
                show_error=False, footer_links=["gradio"], quiet=True)


def warm_up(index, model: Optional[str] = None) -> None:
    """Load the embedding and language models now, so the first question does not wait for them."""
    try:
        index.search("warm up", k=1)
        from rag.llm import get_model
        get_model(model)
    except Exception as e:  # the chat reports the problem when a question needs the model
        log.warning("models not preloaded: %s", e)


def serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    password = args.password or os.environ.get("RAG_PASSWORD") or None
    check_exposure(args.host, password, args.no_auth)
    index, status = open_or_build(args.index, args.corpus)
    demo = build_app(index, status=status, upload_dir=Path(args.index) / "uploads", model=args.model)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_MAX)
    threading.Thread(target=warm_up, args=(index, args.model), daemon=True, name="warm-up").start()
    print(f"rag serve: {describe(index)}; open http://{args.host}:{args.port}"
          + (f" (user {USER!r} and the password)" if password else ""), file=sys.stderr, flush=True)
    demo.launch(**launch_options(args.host, args.port, password))
    return 0
