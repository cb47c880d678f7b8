"""CLI command handlers: turn parsed arguments into library calls and print results.
Takes parsed arguments; gives printed results (text or JSON) and an exit code.

Each handler returns the process exit code. Owners: ingest/remove/search (index stage),
ask (answer stage), survey (rag.survey). Keep each handler short; logic belongs in the library modules.
"""
from __future__ import annotations

import argparse
import json
import sys
import textwrap

from rag.answer import Done, Text
from rag.indexing.index import Index
from rag.survey.chart import chart_path, save_chart
from rag.survey.compose import long_date, shown_with_question
from rag.survey.export import to_csv, to_markdown

HIT_FIELDS = ("rank", "score", "chunk_id", "doc_id", "path", "title", "date", "source_url", "publisher",
              "speaker", "role", "text", "question")


def _print_report(report, as_json: bool) -> int:
    """Ingest/remove report: summary on stdout, every skipped file on stderr; exit 1 if any was skipped."""
    for path, reason in report.skipped:
        print(f"rag: skipped {path}: {reason}", file=sys.stderr)
    for path, same in report.duplicates:
        print(f"rag: {path}: same transcript as {same}, indexed once", file=sys.stderr)
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=1))
    else:
        print(f"documents: {len(report.added)} added, {len(report.updated)} updated, {report.unchanged} unchanged, "
              f"{len(report.removed)} removed, {len(report.duplicates)} duplicate, {len(report.skipped)} skipped")
        print(f"chunks: {report.chunks_embedded} embedded, {report.chunks_reused} reused; "
              f"index now holds {report.documents_total} documents, {report.chunks_total} chunks")
        if report.vectors_pending:
            print(f"vectors: {report.vectors_pending} chunks not embedded yet (searched by BM25 until then); "
                  f"`rag ingest` again, or `rag serve`, embeds them")
    return 1 if report.skipped else 0


def ingest(args: argparse.Namespace) -> int:
    index = Index.build(args.paths, path=args.index, model=args.model, progress=True,
                        backend=getattr(args, "backend", None), store=getattr(args, "store", None),
                        lexical_only=getattr(args, "lexical_only", False))
    return _print_report(index.last_report, getattr(args, "json", False))


def remove(args: argparse.Namespace) -> int:
    index = Index.open(args.index)
    return _print_report(index.remove(args.paths), False)


def tune(args: argparse.Namespace) -> int:
    """`rag tune`: fine-tune the embedding model on the index's exchanges, then re-embed (rag.encoders.tuning)."""
    index = Index.open(args.index)
    report = index.tune(epochs=args.epochs, progress=not args.json)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(f"fine-tuned on {report.pairs} question -> answer pairs ({report.epochs} epoch(s), {report.steps} steps) "
              f"in {report.train_s:.0f} s; loss {report.first_loss:.3f} -> {report.last_loss:.3f}")
        print(f"model: {report.model}; {len(index)} chunks re-embedded")
    return 0


def hit_json(hit) -> dict:
    """A hit as the `rag search --json` contract: the contract fields first, then the rest."""
    d = hit.to_dict()
    return {**{f: d[f] for f in HIT_FIELDS}, **{k: v for k, v in d.items() if k not in HIT_FIELDS}}


def _note_outdated(index: Index) -> None:
    if index.outdated:
        print(f"rag: note: {index.path}/ was written by an older version ({index.outdated}); it is searched as it "
              f"is until `rag ingest` (or `rag serve`) rebuilds it in place", file=sys.stderr)


def search(args: argparse.Namespace) -> int:
    index = Index.open(args.index)
    _note_outdated(index)
    hits = index.search(args.query, k=args.k, mode=args.mode, speaker=args.speaker, publisher=args.publisher,
                        kind=args.kind, date_from=args.since, date_to=args.until)
    if args.json:
        print(json.dumps([hit_json(h) for h in hits], ensure_ascii=False, indent=1))
        return 0
    if not hits:
        print("no matching passages")
    for h in hits:
        who = f"{h.speaker or 'unattributed'} ({h.role})"
        print(f"{h.rank}. [{h.score:.4f}] {who} | {h.title} | {h.date or 'no date'}"
              + ("" if h.dense else " | BM25 only (not embedded yet)"))
        print(f"   {h.path}" + (f"  {h.source_url}" if h.source_url else ""))
        if h.question and h.role != "questioner":
            print(textwrap.fill(f"asked: {h.question}", 100, initial_indent="   ", subsequent_indent="   ",
                                max_lines=2, placeholder=" ..."))
        print(textwrap.fill(h.text, 100, initial_indent="   ", subsequent_indent="   ", max_lines=4,
                            placeholder=" ..."))
        print()
    return 0


def ask(args: argparse.Namespace) -> int:
    """`rag ask`: the checked answer, streamed, then its numbered sources; --json prints one object."""
    index = Index.open(args.index)
    kwargs = dict(k=args.k, model=args.model, speaker=args.speaker, publisher=args.publisher, kind=args.kind,
                  date_from=args.since, date_to=args.until)
    answer = None
    for event in index.ask_stream(args.question, **kwargs):
        if isinstance(event, Text) and not args.json:
            print(event.text, end="", flush=True)
        elif isinstance(event, Done):
            answer = event.answer
    if args.json:
        d = answer.to_dict()
        d["passages"] = [hit_json(h) for h in answer.passages]
        print(json.dumps(d, ensure_ascii=False, indent=1))
        return 0
    print("\n")
    if answer.abstained:
        print("Closest passages:" if answer.passages else "No passages matched.")
        for n, h in enumerate(answer.passages, start=1):
            print(f"[{n}] {h.speaker or 'unattributed'} ({h.role}) | {h.title} | {h.date or 'no date'}")
            print(textwrap.fill(h.text, 100, initial_indent="    ", subsequent_indent="    ", max_lines=2,
                                placeholder=" ..."))
        return 0
    print("Sources:")
    for c in answer.citations:
        print(f"[{c.n}] {c.speaker or 'unattributed'} | {c.title} | {c.date or 'no date'}")
        print(f"    {c.quote_url or c.path}")
    t = answer.timings
    print(f"\n({t.get('total_s', 0):.1f} s; first text after {t.get('first_text_s', t.get('total_s', 0)):.1f} s)",
          file=sys.stderr)
    return 0


def survey(args: argparse.Namespace) -> int:
    """`rag survey TOPIC`: every briefing that addresses the topic, as text, JSON, CSV or Markdown; --plot draws
    briefings per period."""
    if args.plot:
        chart_path(args.plot)   # a wrong suffix fails before any work
    index = Index.open(args.index)
    _note_outdated(index)
    result = index.survey(args.topic, speaker=args.speaker, publisher=args.publisher, kind=args.kind,
                          date_from=args.since, date_to=args.until)
    if args.plot and not result.abstained:
        print(f"rag: chart written to {save_chart(result, args.plot)}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
    elif args.csv:
        sys.stdout.write(to_csv(result))
    elif args.md:
        sys.stdout.write(to_markdown(result))
    else:
        _print_survey(result)
    return 0


def _print_survey(result) -> None:
    print(textwrap.fill(result.overview, 100))
    if result.wordings:
        print("Fewer words find more: " + "; ".join(f"“{w.topic}” ({w.briefings})" for w in result.wordings))
    if result.abstained:
        return
    by_n = {s.n: s for s in result.statements}
    for p in result.timeline:
        print(f"\n{p.label} ({len(p.statements)})")
        for n in p.statements:
            s = by_n[n]
            print(f"  [{n}] {long_date(s.date) if s.date else 'date not given'} | {s.speaker or 'unattributed'} | {s.title}")
            print(textwrap.fill(f"“{s.quote}”", 100, initial_indent="      ", subsequent_indent="      ",
                                max_lines=3, placeholder=" ..."))
            if shown_with_question(s):   # a short answer, with what it answers
                print(textwrap.fill(f"(in reply to: “{s.question}”)", 100, initial_indent="      ",
                                    subsequent_indent="      ", max_lines=2, placeholder=" ...”)"))
            print(f"      {s.quote_url or s.path}")
    if result.threads:
        print("\nThreads:")
        for t in result.threads:
            print(f"  {t.label}: " + ", ".join(f"[{n}]" for n in t.statements))
    print("\nWho said it most: " + "; ".join(f"{c.speaker} ({c.briefings})" for c in result.speakers[:8]))
    print(f"({result.timings.get('total_s', 0):.2f} s)", file=sys.stderr)
