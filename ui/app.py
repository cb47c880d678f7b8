"""The Gradio chat app: `rag serve` calls `serve(args)`; tests call `build_app(index)`.
Takes an opened Index (or a folder to build one from); gives the chat, sources panel and upload tab.

- Ask tab: a chat with streamed answers and follow-up questions, filters (speaker, publisher,
  kind, dates), a retrieval-only switch, and beside the chat a sources panel listing each cited
  passage (speaker, briefing title linked to its page, date, the cited words highlighted).
- Add transcripts tab: upload .txt/.md/.html files (20 MB each at most), index them with a
  progress bar, and list the files that were skipped and why.
- Exposure: binds 127.0.0.1 by default; binding any other address needs a password
  (user "rag", --password or RAG_PASSWORD) unless --no-auth is given.
- Concurrency: the queue runs up to CONCURRENCY chats at once; the language model is shared
  (rag.llm's local backends serialise generation), retrieval runs in parallel.
"""
from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

import gradio as gr

from rag import Index
from rag.llm import ModelUnavailable, get_model
from rag.errors import RagError
from rag.indexing.store import Store
from rag.resources import sample_corpus
from rag.settings import current
from rag.survey.threads import preload as preload_survey
from ui import render
from ui.background import BackgroundVectors
from ui.handlers import ChatHandlers, describe
from ui.layout import layout

log = logging.getLogger(__name__)

CSS_PATH = Path(__file__).resolve().parent / "static" / "app.css"
CONCURRENCY = 8
QUEUE_MAX = 64
USER = "rag"
K = 5


def build_app(index, *, status: str = "", upload_dir: Optional[str | os.PathLike] = None,
              model: Optional[str] = None, k: int = K, speakers: Optional[list[str]] = None,
              background: Optional[BackgroundVectors] = None) -> gr.Blocks:
    """The Blocks app over an opened Index (or None, when loading failed: `status` says why); `background`
    embeds the index's missing vectors while it serves (its progress is in the status line)."""
    return layout(ChatHandlers(index, status, upload_dir, model, k, background), speakers)


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
    path = Path(index_path)
    if Store(path).exists():
        t = time.perf_counter()
        index = Index.open(path)
        return index, f"Loaded from {path}/ in {time.perf_counter() - t:.1f} s."
    src = Path(corpus) if corpus else sample_corpus()
    if not src.exists():
        raise RagError(f"no index in {path}/ and the corpus {src} to build it from does not exist")
    print(f"rag serve: first start: indexing {src} into {path}/ (words first; vectors in the background) ...",
          file=sys.stderr, flush=True)
    t = time.perf_counter()
    index = Index.build([str(src)], path=str(path), progress=True, lexical_only=True)
    took = time.perf_counter() - t
    print(f"rag serve: searchable after {took:.1f} s; {index.vector_progress.describe()}", file=sys.stderr, flush=True)
    return index, f"Indexed from {src} on first start in {took:.0f} s."


def launch_options(host: str, port: int, password: Optional[str]) -> dict[str, Any]:
    """Keyword arguments for `Blocks.launch`: address, login, upload size limit, styling."""
    return dict(server_name=host, server_port=port,
                auth=(USER, password) if password else None,
                auth_message="Briefing Q&A: log in as user 'rag' with the server's password." if password else None,
                max_file_size=render.UPLOAD_MAX_BYTES, css_paths=[CSS_PATH], theme=gr.themes.Soft(),
                show_error=False, footer_links=["gradio"], quiet=True)


def warm_up(index, model: Optional[str] = None, background: Optional[BackgroundVectors] = None) -> None:
    """Load the embedding and language models now, so the first question does not wait for them; then embed
    the passages that have no vector yet (first start, or an ingest stopped early), in the background."""
    try:
        index.search("warm up", k=1)
        preload_survey()   # the survey's clustering code (~1 s of imports), before the first survey
        llm = get_model(model)
        if hasattr(llm, "check"):   # a model server: say now if it cannot be reached (answers still work)
            print(f"rag serve: language model: {llm.check()} at {llm.url}", file=sys.stderr, flush=True)
    except ModelUnavailable as e:
        print(f"rag serve: warning: {e}; answers will show the checked quotes without a summary until it is up",
              file=sys.stderr, flush=True)
    except Exception as e:  # the chat reports the problem when a question needs the model
        log.warning("models not preloaded: %s", e)
    if background is not None and background.ensure():
        print(f"rag serve: embedding in the background: {index.vector_progress.describe()}", file=sys.stderr, flush=True)


def serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    password = args.password or current().runtime.password
    check_exposure(args.host, password, args.no_auth)
    index, status = open_or_build(args.index, args.corpus)
    background = BackgroundVectors(index)
    demo = build_app(index, status=status, upload_dir=Path(args.index) / "uploads", model=args.model,
                     background=background)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_MAX)
    threading.Thread(target=warm_up, args=(index, args.model, background), daemon=True, name="warm-up").start()
    print(f"rag serve: {describe(index)}; open http://{args.host}:{args.port}"
          + (f" (user {USER!r} and the password)" if password else ""), file=sys.stderr, flush=True)
    demo.launch(**launch_options(args.host, args.port, password))
    return 0
