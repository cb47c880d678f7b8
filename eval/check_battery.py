#!/usr/bin/env python3
"""Validate the answer-checker test battery (JSON Lines) against the transcripts it quotes.

    python3 eval/check_battery.py [BATTERY] [--sample-dir DIR] [--cc0-dir DIR]

Default BATTERY: eval/checker_battery.jsonl. Independent of the `rag` package: it reads the
transcripts itself, using only check_gold.py's `parse_turns` and `normalize` (same folder).

Item format (one JSON object per line, exactly these fields):
    id        "cb001", "cb002", ... (unique)
    kind      verbatim | paraphrase | summary            (supported)
              negation | number | date | entity | speaker | question   (unsupported)
    supported true for the three supported kinds, false otherwise
    claim     one sentence ending with "[1]." or " [1]"
    file      transcript path: "data/briefings/NAME.txt" (relative to the repo root) for
              corpus "sample"; relative to the CC0 corpus folder for corpus "cc0"
    corpus    "sample" | "cc0"
    speaker   turn label exactly as parse_turns gives it
    date      "YYYY-MM-DD" or null; when the file's date is known (front matter `date:`,
              or data/briefings/manifest.json for the sample), it must match
    passage   40-160 words, a verbatim substring (after normalisation) of one turn of `file`
              whose label equals `speaker`
    question  null or a reporter question that occurs verbatim (after normalisation) in
              `file`; required for kind "question"
    note      non-empty string
    split     "tuning" | "heldout": by file (the files in sorted order, alternately), so no passage is in both;
              the checker may be tuned on the tuning half only
Items that share a passage (same file and passage) must share speaker, question and date.
A question shorter than 3 words (other than an "(Inaudible.)" marker) is reported.

Balance rules (reported as problems when not met): at least 320 items; at least 50 items of
each supported kind and 25 of each unsupported kind; at least 60 distinct passages.

`--fresh` checks a later held-out battery, written after the checker was tuned on the ones before it:
eval/checker_battery2.jsonl (ids "cc001", ..., split "heldout2"), eval/checker_battery3.jsonl ("cd001", ...,
"heldout3"), eval/checker_battery4.jsonl ("ce001", ..., "heldout4") or eval/checker_battery5.jsonl ("cf001", ...,
"heldout5"). At least 150 items, 20 of each supported
kind and 10 of each unsupported kind (20 negations), 40 distinct passages; and no file of an earlier battery is used.

Prints one line per problem (naming the item id), then a summary: counts per kind, supported
vs unsupported, distinct passages, sample vs cc0 (items and passages). Exit status 0 when
there are no problems, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from check_gold import normalize, parse_turns  # noqa: E402

REPO_ROOT = HERE.parent
SAMPLE_DIR = REPO_ROOT / "data" / "briefings"
CC0_DIR = REPO_ROOT.parent / "shared" / "corpus" / "wh-briefings"

SUPPORTED_KINDS = ("verbatim", "paraphrase", "summary")
UNSUPPORTED_KINDS = ("negation", "number", "date", "entity", "speaker", "question")
KINDS = SUPPORTED_KINDS + UNSUPPORTED_KINDS
FIELDS = ("id", "kind", "supported", "claim", "file", "corpus", "speaker", "date",
          "passage", "question", "note", "split")
MIN_WORDS, MAX_WORDS = 40, 160
MIN_ITEMS, MIN_PASSAGES = 320, 60
MIN_SUPPORTED_PER_KIND, MIN_UNSUPPORTED_PER_KIND = 50, 25
SPLITS = ("tuning", "heldout")
ID_PREFIX = "cb"
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FRONT_DATE_RE = re.compile(r"^date:\s*['\"]?(\d{4}-\d{2}-\d{2})", re.M)


class Transcripts:
    """Loads and caches transcripts: turns, full normalised text and date."""

    def __init__(self, sample_dir: Path, cc0_dir: Path):
        self.sample_dir, self.cc0_dir = sample_dir, cc0_dir
        manifest = sample_dir / "manifest.json"
        self.manifest = json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else {}
        self._cache: dict[tuple[str, str], dict | str] = {}

    def path(self, file: str, corpus: str) -> Path | str:
        if Path(file).is_absolute() or ".." in Path(file).parts:
            return f"file {file!r} must be a relative path without '..'"
        if corpus == "sample":
            if not file.startswith("data/briefings/"):
                return f"sample file {file!r} must start with 'data/briefings/'"
            return self.sample_dir / file[len("data/briefings/"):]
        if corpus == "cc0":
            if file.startswith("data/"):
                return f"cc0 file {file!r} must be relative to the CC0 corpus folder"
            return self.cc0_dir / file
        return f"unknown corpus {corpus!r}"

    def get(self, file: str, corpus: str) -> dict | str:
        key = (file, corpus)
        if key not in self._cache:
            p = self.path(file, corpus)
            if isinstance(p, str):
                self._cache[key] = p
            elif not p.is_file():
                self._cache[key] = f"file {file!r} not found ({p})"
            else:
                raw = p.read_text(encoding="utf-8", errors="replace")
                m = FRONT_DATE_RE.search(raw[:3000]) if raw.lstrip().startswith("---") else None
                date = m.group(1) if m else None
                if corpus == "sample":
                    date = (self.manifest.get(p.name) or {}).get("date") or date
                turns = parse_turns(raw)
                self._cache[key] = {"turns": turns, "full": " ".join(t.text for t in turns),
                                    "date": date}
        return self._cache[key]


def check_item(it: dict, n: int, tr: Transcripts, seen_ids: set) -> list[str]:
    probs: list[str] = []
    iid = it.get("id") if isinstance(it.get("id"), str) else f"line {n}"
    say = lambda msg: probs.append(f"{iid}: {msg}")  # noqa: E731

    keys = set(it)
    if keys != set(FIELDS):
        missing, extra = set(FIELDS) - keys, keys - set(FIELDS)
        if missing:
            say(f"missing fields {sorted(missing)}")
        if extra:
            say(f"unexpected fields {sorted(extra)}")
    for f in ("id", "kind", "claim", "file", "corpus", "speaker", "passage", "note"):
        if f in it and not (isinstance(it[f], str) and it[f].strip()):
            say(f"field {f!r} must be a non-empty string")
    if "supported" in it and not isinstance(it["supported"], bool):
        say("field 'supported' must be true or false")
    if it.get("split") not in SPLITS:
        say(f"field 'split' must be one of {', '.join(SPLITS)}")
    for f in ("date", "question"):
        if f in it and it[f] is not None and not (isinstance(it[f], str) and it[f].strip()):
            say(f"field {f!r} must be null or a non-empty string")
    if probs:
        return probs

    if not re.fullmatch(ID_PREFIX + r"\d{3,}", it["id"]):
        say(f"id must look like '{ID_PREFIX}001'")
    if it["id"] in seen_ids:
        say("duplicate id")
    seen_ids.add(it["id"])

    kind = it["kind"]
    if kind not in KINDS:
        say(f"unknown kind {kind!r}")
    elif it["supported"] != (kind in SUPPORTED_KINDS):
        say(f"supported={it['supported']} does not match kind {kind!r}")

    claim = it["claim"]
    if not (claim.endswith("[1].") or claim.endswith(" [1]")):
        say("claim must end with '[1].' or ' [1]'")
    if claim.count("[1]") != 1 or re.search(r"\[\d+\]", claim.replace("[1]", "")):
        say("claim must cite exactly one passage, as [1]")

    if it["corpus"] not in ("sample", "cc0"):
        say(f"corpus must be 'sample' or 'cc0', not {it['corpus']!r}")
        return probs
    if it["date"] is not None and not DATE_RE.match(it["date"]):
        say(f"date {it['date']!r} is not YYYY-MM-DD")

    passage = normalize(it["passage"])
    if passage != it["passage"]:
        say("passage is not in normalised form (check_gold.normalize changes it)")
    nwords = len(passage.split())
    if not MIN_WORDS <= nwords <= MAX_WORDS:
        say(f"passage has {nwords} words (need {MIN_WORDS}-{MAX_WORDS})")

    doc = tr.get(it["file"], it["corpus"])
    if isinstance(doc, str):
        say(doc)
        return probs
    if doc["date"] and it["date"] != doc["date"]:
        say(f"date {it['date']!r} differs from the file's date {doc['date']!r}")
    if doc["date"] is None and it["date"] is not None:
        say(f"date {it['date']!r} given but the file's date is unknown")

    turns = doc["turns"]
    if not any(t.label == it["speaker"] and passage in t.text for t in turns):
        labels = {t.label for t in turns if passage in t.text}
        if labels:
            say(f"passage is in a turn labelled {sorted(labels)}, not {it['speaker']!r}")
        elif passage in doc["full"]:
            say("passage spans more than one turn")
        else:
            say("passage not found verbatim in the file (after normalisation)")

    q = it["question"]
    if q is not None:
        qn = normalize(q)
        if qn != q:
            say("question is not in normalised form")
        if not any(qn in t.text for t in turns):
            say("question not found verbatim in one turn of the file")
        if qn == passage or passage in qn:
            say("question must be the reporter's words, not the passage")
        if len(qn.split()) < 3 and "inaudible" not in qn.lower():
            say(f"question {qn!r} is too short to be the reporter's question")
    elif kind == "question":
        say("kind 'question' requires a non-null question")
    return probs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("battery", nargs="?", default=str(HERE / "checker_battery.jsonl"))
    ap.add_argument("--sample-dir", default=str(SAMPLE_DIR))
    ap.add_argument("--cc0-dir", default=str(CC0_DIR))
    ap.add_argument("--fresh", action="store_true", help="a later held-out battery: split heldout2, smaller minimums, "
                    "no file of eval/checker_battery.jsonl")
    args = ap.parse_args()
    global MIN_ITEMS, MIN_PASSAGES, MIN_SUPPORTED_PER_KIND, MIN_UNSUPPORTED_PER_KIND, SPLITS, ID_PREFIX
    first_files: set = set()
    if args.fresh:
        MIN_ITEMS, MIN_PASSAGES, MIN_SUPPORTED_PER_KIND, MIN_UNSUPPORTED_PER_KIND = 150, 40, 20, 10
        later = {"checker_battery2.jsonl": ("heldout2", "cc", 1), "checker_battery3.jsonl": ("heldout3", "cd", 2),
                 "checker_battery4.jsonl": ("heldout4", "ce", 3), "checker_battery5.jsonl": ("heldout5", "cf", 4),
                 "checker_battery6.jsonl": ("heldout6", "cg", 5)}
        split, ID_PREFIX, earlier = later.get(Path(args.battery).name, ("heldout2", "cc", 1))
        SPLITS = (split,)
        for name in ("checker_battery.jsonl", "checker_battery2.jsonl", "checker_battery3.jsonl",
                     "checker_battery4.jsonl", "checker_battery5.jsonl")[:earlier]:
            with open(HERE / name, encoding="utf-8") as fh:
                first_files |= {json.loads(x)["file"] for x in fh if x.strip()}

    tr = Transcripts(Path(args.sample_dir), Path(args.cc0_dir))
    problems: list[str] = []
    items: list[dict] = []
    seen: set = set()
    with open(args.battery, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                problems.append(f"line {n}: blank line")
                continue
            try:
                it = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"line {n}: invalid JSON ({e})")
                continue
            if not isinstance(it, dict):
                problems.append(f"line {n}: not a JSON object")
                continue
            items.append(it)
            problems += check_item(it, n, tr, seen)
            if it.get("file") in first_files:
                problems.append(f"{it.get('id')}: file {it.get('file')} is in an earlier battery (use another)")

    contexts: dict = {}
    for it in items:
        key = (it.get("file"), it.get("passage"))
        contexts.setdefault(key, set()).add((it.get("speaker"), it.get("question"), it.get("date")))
    for (f, p), ctx in contexts.items():
        if len(ctx) > 1:
            ids = [it.get("id") for it in items if (it.get("file"), it.get("passage")) == (f, p)]
            problems.append(f"{ids[0]}..: the same passage has different speaker/question/date in items {ids}")

    kinds = Counter(it.get("kind") for it in items)
    passages = {(it.get("file"), it.get("passage")) for it in items}
    corp_items = Counter(it.get("corpus") for it in items)
    corp_pass = Counter(c for (f, p), c in {(( it.get("file"), it.get("passage")), it.get("corpus"))
                                             for it in items})
    if len(items) < MIN_ITEMS:
        problems.append(f"battery: {len(items)} items (need at least {MIN_ITEMS})")
    for k in SUPPORTED_KINDS:
        if kinds[k] < MIN_SUPPORTED_PER_KIND:
            problems.append(f"battery: {kinds[k]} {k!r} items (need at least {MIN_SUPPORTED_PER_KIND})")
    if args.fresh and kinds["negation"] < 20:
        problems.append(f"battery: {kinds['negation']} 'negation' items (need at least 20)")
    for k in UNSUPPORTED_KINDS:
        if kinds[k] < MIN_UNSUPPORTED_PER_KIND:
            problems.append(f"battery: {kinds[k]} {k!r} items (need at least {MIN_UNSUPPORTED_PER_KIND})")
    if len(passages) < MIN_PASSAGES:
        problems.append(f"battery: {len(passages)} distinct passages (need at least {MIN_PASSAGES})")

    for p in problems:
        print(p)
    sup = sum(kinds[k] for k in SUPPORTED_KINDS)
    print(f"\n{len(items)} items: {sup} supported, {len(items) - sup} unsupported")
    print("per kind: " + ", ".join(f"{k} {kinds[k]}" for k in KINDS))
    other = {k: v for k, v in kinds.items() if k not in KINDS}
    if other:
        print(f"unknown kinds: {other}")
    print(f"distinct passages: {len(passages)} (sample {corp_pass['sample']}, cc0 {corp_pass['cc0']})")
    print(f"items by corpus: sample {corp_items['sample']}, cc0 {corp_items['cc0']}")
    print(f"distinct files: {len({it.get('file') for it in items})}, "
          f"distinct speakers: {len({it.get('speaker') for it in items})}, "
          f"items with a question: {sum(1 for it in items if it.get('question'))}")
    print(f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
