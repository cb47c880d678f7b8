"""Candidates for the topic gold set (eval/topics_cc0.jsonl): every official turn of the CC0 corpus whose words
match a topic's keyword variants, with the matching sentences, for a person to read and judge.

The exhaustive search behind the gold set, independent of the `rag` package: the corpus is split into labelled
turns once with eval/check_gold.py's own parser into a cache of every turn not labelled as a reporter's ("Q",
"QUESTION", "REPORTER", "AUDIENCE MEMBER", "MODERATOR", "OPERATOR"); each topic's regular expression is then run over
every such turn, and each briefing with a match is listed with its matching sentences and the speaker's label. A
judge reads them and keeps the briefings where an official addresses the topic (eval/TOPICS.md gives the rules).

    python3 eval/topic_candidates.py dump                     # once: split the corpus (~1 min)
    python3 eval/topic_candidates.py grep 'Bab al-Hawa|Bab al Hawa' [--context 1]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "wh-briefings"
CACHE = Path("/tmp/official_turns.jsonl")
_REPORTER = re.compile(r"^(Q|QUESTION|REPORTER|AUDIENCE MEMBER|AUDIENCE|MODERATOR|OPERATOR|PARTICIPANT)\b")
_SENT = re.compile(r"(?<=[.!?])\s+(?=[\"“A-Z0-9])")


def dump(corpus: Path, cache: Path) -> None:
    sys.path.insert(0, str(ROOT / "eval"))
    from check_gold import parse_turns
    n = 0
    with open(cache, "w", encoding="utf-8") as out:
        for file in sorted(corpus.rglob("*.md")):
            if file.name in ("README.md",):
                continue
            raw = file.read_text(encoding="utf-8", errors="replace")
            date = (re.search(r"^date: '?(\d{4}-\d{2}-\d{2})", raw, re.M) or [None, None])[1]
            title = (re.search(r"^title: (.*)$", raw, re.M) or [None, ""])[1].strip("'\" ")
            rel = str(file.relative_to(corpus))
            for position, turn in enumerate(parse_turns(raw)):
                if turn.label and not _REPORTER.match(turn.label):
                    out.write(json.dumps({"path": rel, "date": date, "title": title, "speaker": turn.label,
                                          "turn": position, "text": turn.text}) + "\n")
                    n += 1
    print(f"{n} turns not labelled as a reporter's -> {cache}")


def grep(pattern: str, cache: Path, context: int) -> None:
    rx = re.compile(pattern, re.I)
    by_path: dict[str, list] = {}
    meta = {}
    with open(cache, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            if not rx.search(d["text"]):
                continue
            sents = _SENT.split(d["text"])
            for i, s in enumerate(sents):
                if rx.search(s):
                    snippet = " ".join(sents[max(0, i - context): i + context + 1])
                    by_path.setdefault(d["path"], []).append((d["speaker"], d["turn"], snippet))
            meta[d["path"]] = (d["date"], d["title"])
    for path in sorted(by_path, key=lambda p: (meta[p][0] or "", p)):
        date, title = meta[path]
        print(f"## {path} | {date} | {title}")
        for speaker, turn, snippet in by_path[path]:
            print(f"  - [{speaker} t{turn}] {snippet}")
    print(f"\n{len(by_path)} briefings, {sum(len(v) for v in by_path.values())} matching sentences")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--corpus", type=Path, default=CORPUS)
    g = sub.add_parser("grep")
    g.add_argument("pattern")
    g.add_argument("--context", type=int, default=0, help="sentences either side of each match")
    for p in (d, g):
        p.add_argument("--cache", type=Path, default=CACHE)
    args = ap.parse_args()
    if args.cmd == "dump":
        dump(args.corpus, args.cache)
    else:
        grep(args.pattern, args.cache, args.context)


if __name__ == "__main__":
    main()
