#!/usr/bin/env python3
"""Validate a topic gold set (JSON Lines, eval/topics_cc0.jsonl) against the transcripts it quotes.

    python3 eval/check_topics.py GOLD [--corpus DIR]

Independent of the `rag` package, like eval/check_gold.py (whose parser and normalisation it uses): it reads the
transcripts itself.

Item format (one JSON object per line):
    id (str, unique), topic (str: what a user would type), split ("tuning", "heldout", or "seen": held out for one
    measured design, then looked at and used for tuning, eval/TOPICS.md),
    patterns (list of regular expressions: the keyword variants searched over every non-reporter turn),
    briefings (list, sorted by file, one per briefing where an official addresses the topic:
        {file: path relative to the corpus, speaker: turn label, evidence: a verbatim sentence of that turn}),
    rejected (list of {file, reason}: every other briefing the patterns matched, and why it is out).

Rules checked
- ids unique; split is tuning or heldout; at least one pattern, each a valid regular expression;
- every briefing's file exists; its evidence (normalised) occurs inside one turn labelled `speaker`, and that
  label is not a reporter's, a moderator's or an operator's;
- no file is listed twice, in briefings or rejected or across both;
- exhaustive: every file where some pattern matches a non-reporter turn is either in briefings or rejected.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_gold import normalize, parse_turns  # noqa: E402

REPORTER = re.compile(r"^(Q|QUESTION|REPORTER|AUDIENCE MEMBER|AUDIENCE|MODERATOR|OPERATOR|PARTICIPANT)\b")
DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "wh-briefings"


def official_turns(corpus: Path) -> dict[str, list]:
    out = {}
    for file in sorted(corpus.rglob("*.md")):
        if file.name == "README.md":
            continue
        turns = parse_turns(file.read_text(encoding="utf-8", errors="replace"))
        out[str(file.relative_to(corpus))] = [t for t in turns if t.label and not REPORTER.match(t.label)]
    return out


def check(items: list[dict], corpus: Path) -> list[str]:
    errors = []
    turns = official_turns(corpus)
    seen_ids = set()
    for item in items:
        iid = item.get("id", "?")
        where = f"{iid} ({item.get('topic')})"
        if iid in seen_ids:
            errors.append(f"{where}: duplicate id")
        seen_ids.add(iid)
        if item.get("split") not in ("tuning", "seen", "heldout"):
            errors.append(f"{where}: split must be tuning, seen or heldout")
        try:
            rxs = [re.compile(p, re.I) for p in item.get("patterns") or []]
        except re.error as e:
            errors.append(f"{where}: bad pattern: {e}")
            continue
        if not rxs:
            errors.append(f"{where}: no patterns")
        listed = {}
        for b in item.get("briefings", []):
            f = b.get("file", "")
            if f in listed:
                errors.append(f"{where}: {f} listed twice")
            listed[f] = "in"
            if f not in turns:
                errors.append(f"{where}: no such file {f}")
                continue
            ev = normalize(b.get("evidence", ""))
            if len(ev.split()) < 4:
                errors.append(f"{where}: {f}: evidence too short")
            if REPORTER.match(b.get("speaker", "")):
                errors.append(f"{where}: {f}: {b.get('speaker')} is not an official")
            if not any(t.label == b.get("speaker") and ev in t.text for t in turns[f]):
                errors.append(f"{where}: {f}: evidence not found in a turn of {b.get('speaker')!r}")
        for r in item.get("rejected", []):
            f = r.get("file", "")
            if f in listed:
                errors.append(f"{where}: {f} both {'listed' if listed[f] == 'in' else 'rejected'} and rejected")
            listed[f] = "out"
            if not r.get("reason"):
                errors.append(f"{where}: {f}: rejected without a reason")
        matched = {f for f, ts in turns.items() if any(rx.search(t.text) for t in ts for rx in rxs)}
        for f in sorted(matched - set(listed)):
            errors.append(f"{where}: {f} matches a pattern but is neither listed nor rejected")
    return errors


def check_pooled(pooled: list[dict], items: list[dict], corpus: Path) -> list[str]:
    """Pooled judgments (eval/topics_cc0_pooled.jsonl): briefings a survey found that the gold neither listed nor
    rejected, judged afterwards by the same rules. Fields: topic_id, file, verdict ("in" or "out"), and for "in" a
    speaker and a verbatim evidence sentence of that speaker's turn (or, with a reason starting "parser cannot
    place", words found in the file that this parser files under another label); for "out" a reason."""
    errors = []
    turns = official_turns(corpus)
    judged = {(i["id"], x["file"]) for i in items for x in i["briefings"] + i["rejected"]}
    seen = set()
    for p in pooled:
        key = (p.get("topic_id"), p.get("file"))
        where = f"pooled {key}"
        if key in judged:
            errors.append(f"{where}: already judged in the gold")
        if key in seen:
            errors.append(f"{where}: judged twice")
        seen.add(key)
        if p.get("file") not in turns:
            errors.append(f"{where}: no such file")
            continue
        if p.get("verdict") == "in":
            ev = normalize(p.get("evidence", ""))
            placed = any(t.label == p.get("speaker") and ev in t.text for t in turns[p["file"]])
            if str(p.get("reason", "")).startswith("parser cannot place"):
                # the parser files these words under another label (a label glued to a time stamp): the words
                # must still be in the file; who said them was read by the judge
                raw = normalize((corpus / p["file"]).read_text(encoding="utf-8", errors="replace"))
                placed = bool(ev) and ev in raw
            elif len(ev.split()) < 4 or REPORTER.match(p.get("speaker", "")):
                placed = False
            if not placed:
                errors.append(f"{where}: evidence not found in a turn of {p.get('speaker')!r}")
        elif p.get("verdict") == "out":
            if not p.get("reason"):
                errors.append(f"{where}: out without a reason")
        else:
            errors.append(f"{where}: verdict must be in or out")
    return errors


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("gold", type=Path)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--pooled", type=Path, default=None, help="also check pooled judgments (check_pooled)")
    args = ap.parse_args(argv)
    items = [json.loads(line) for line in args.gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.pooled:
        pooled = [json.loads(x) for x in args.pooled.read_text(encoding="utf-8").splitlines() if x.strip()]
        errors = check_pooled(pooled, items, args.corpus)
        for e in errors:
            print(e)
        print(f"{len(pooled)} pooled judgments ({sum(p.get('verdict') == 'in' for p in pooled)} in), "
              f"{len(errors)} problems")
        return 1 if errors else 0
    errors = check(items, args.corpus)
    for e in errors:
        print(e)
    for item in items:
        print(f"{item['id']} {item['split']:8} {len(item.get('briefings', [])):4} briefings "
              f"{len(item.get('rejected', [])):4} rejected  {item['topic']}")
    print(f"{len(items)} topics, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
