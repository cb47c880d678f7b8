"""The `rag` command: a thin argparse layer over the library.
Takes the command line; gives the parsed arguments to one handler and returns its exit code.

Each subcommand parses its flags here and calls one function elsewhere; no
pipeline logic lives in this file.
"""
from __future__ import annotations

import argparse
import sys

from rag.cli import commands
from rag.errors import RagError
from rag.evaluation import bench, evaluate
from rag.llm.server_backend import base_url
from rag.settings import current, offline_environment, replace, use

DEFAULT_INDEX = "index"


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--speaker", help="speaker label (e.g. 'SECRETARY BLINKEN') or role (official, questioner, moderator, operator)")
    p.add_argument("--publisher", help="'State Department' or 'White House'")
    p.add_argument("--kind", help="press briefing, background call, gaggle, interview, remarks, statement")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="only briefings on or after this date")
    p.add_argument("--until", metavar="YYYY-MM-DD", help="only briefings on or before this date")


def _llm(p: argparse.ArgumentParser, local_help: str = "local GGUF file or transformers folder "
         "(default: bundled SmolLM2-135M-Instruct)") -> None:
    p.add_argument("--model", default=None, help=local_help)
    p.add_argument("--llm", default=None, metavar="URL",
                   help="an OpenAI-compatible model server instead, e.g. http://127.0.0.1:11434/v1 (Ollama); "
                        "also $RAG_LLM_URL; API key from $RAG_LLM_API_KEY")
    p.add_argument("--llm-model", default=None, metavar="NAME",
                   help="the model to ask the server for (default: $RAG_LLM_MODEL, else the first it lists)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Question answering over press briefing transcripts, with cited speakers.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="add transcripts (files or folders) to an index")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--index", default=DEFAULT_INDEX, help="index folder (default: index/)")
    p.add_argument("--model", default=None, help="embedding model: folder or name (default: bundled all-MiniLM-L6-v2); "
                                                 "with --backend server, MODEL@URL, e.g. nomic-embed-text@http://localhost:11434/v1")
    p.add_argument("--store", default=None, help="vector store URI, e.g. milvus://host:19530/briefings or a Milvus Lite file")
    p.add_argument("--backend", choices=["torch", "onnx", "onnx-int8", "server"], default=None,
                   help="embedding backend for a new index (default: $RAG_EMBED_BACKEND or onnx-int8; server: a model on "
                        "an OpenAI-compatible /v1/embeddings endpoint); an existing index keeps its own")
    p.add_argument("--lexical-only", action="store_true",
                   help="stop after phase 1 (chunks + BM25 committed: search and ask work lexically); "
                        "a later `rag ingest` or `rag serve` embeds the vectors")
    p.add_argument("--json", action="store_true", help="print the ingest report as JSON")

    p = sub.add_parser("tune", help="fine-tune the embedding model on the index's own exchanges and re-embed")
    p.add_argument("--index", default=DEFAULT_INDEX)
    p.add_argument("--epochs", type=int, default=None, help="passes over the exchanges (default: settings, 1)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = sub.add_parser("remove", help="remove transcripts (files or folders) from an index")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--index", default=DEFAULT_INDEX)

    p = sub.add_parser("search", help="retrieve passages")
    p.add_argument("query", metavar="QUERY")
    p.add_argument("--index", default=DEFAULT_INDEX)
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default="hybrid")
    _filters(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("ask", help="answer a question with citations")
    p.add_argument("question", metavar="QUESTION")
    p.add_argument("--index", default=DEFAULT_INDEX)
    _llm(p)
    p.add_argument("-k", type=int, default=5)
    _filters(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("survey", help="what officials said about a topic across the archive: dated, attributed")
    p.add_argument("topic", metavar="TOPIC")
    p.add_argument("--index", default=DEFAULT_INDEX)
    _filters(p)
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="the Survey record as JSON")
    out.add_argument("--csv", action="store_true", help="one row per briefing: date, title, url, speaker, quote ...")
    out.add_argument("--md", action="store_true", help="Markdown: overview, timeline, threads, who, sources")
    p.add_argument("--plot", metavar="FILE", default=None, help="also draw briefings per month into FILE (.png or .svg)")

    p = sub.add_parser("serve", help="start the chat UI")
    p.add_argument("--index", default=DEFAULT_INDEX)
    p.add_argument("--corpus", default=None, help="transcripts to index on first start (default: the bundled sample)")
    _llm(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--password", default=None, help="require this password (user 'rag'); also read from RAG_PASSWORD")
    p.add_argument("--no-auth", action="store_true", help="allow binding beyond loopback without a password")

    p = sub.add_parser("eval", help="evaluate against a gold Q&A set")
    p.add_argument("gold", metavar="GOLD")
    p.add_argument("--index", default=None)
    p.add_argument("--corpus", default=None)
    p.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default="hybrid")
    _llm(p)
    p.add_argument("--out", default=None)
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-answers", action="store_true", help="measure retrieval only")
    p.add_argument("--corpus-subset", default=None, metavar="gold+N",
                   help="index only the gold files plus N distractors (fixed seed), e.g. gold+300; default: all")

    p = sub.add_parser("bench", help="print performance figures")
    bench.add_arguments(p)   # --corpus, --sample, --skip-ingest ...

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    offline_environment()   # models load from installed packages only; nothing is downloaded
    handlers = {"ingest": commands.ingest, "remove": commands.remove, "search": commands.search, "ask": commands.ask, "tune": commands.tune,
                "survey": commands.survey,
                "serve": _serve, "eval": evaluate.run_cli, "bench": bench.run_cli}
    try:
        _use_llm_flags(parser, args)
        return handlers[args.command](args)
    except KeyboardInterrupt:
        return 130
    except RagError as e:  # a clear one-line message, never a stack trace, for expected failures
        print(f"rag: error: {e}", file=sys.stderr)
        return 2


def _use_llm_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--llm / --llm-model into the settings (a server named there answers wherever a model is needed)."""
    url, name = getattr(args, "llm", None), getattr(args, "llm_model", None)
    if url and getattr(args, "model", None):
        parser.error("give --model (a local model) or --llm (a server), not both")
    if name and not (url or current().answer.llm_url):
        parser.error("--llm-model names a model on a server: give the server with --llm URL")
    if url or name:
        a = current().answer
        use(replace(current(), answer=replace(a, llm_url=url or a.llm_url, llm_model=name or a.llm_model)))
    if url:
        base_url(url)   # a malformed URL fails now, with a clear message


def _serve(args: argparse.Namespace) -> int:
    from ui.app import serve   # optional heavy dependency (Gradio): only for `rag serve`
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
