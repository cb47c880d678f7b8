#!/usr/bin/env python3
"""Validate a gold Q&A set (JSON Lines) against the transcripts it quotes.

    python eval/check_gold.py GOLD [--corpus DIR]

Deliberately independent of the `rag` package: it reads the transcripts itself, so it can
also catch ingestion bugs (a quote the gold says is in a turn must really be there).

Item format (one JSON object per line, exactly these fields):
    id (str, unique), question (str), answer (str, or "NOT_IN_CORPUS"),
    answer_keywords (list of 2-5 lowercased str), evidence (str, 15-60 words, verbatim quote),
    file (str: a file name, or a path relative to the corpus folder), speaker (str: turn label).

Rules checked
- Answerable items: every keyword is lowercase, non-empty and occurs in the lowercased
  (normalised) evidence or reference answer; evidence has 15-60 words; evidence occurs in
  `file` after normalisation; it lies inside one turn whose label equals `speaker`.
- Absent items (answer == "NOT_IN_CORPUS"): evidence, file and speaker are "" and
  answer_keywords is [] (there is nothing a correct answer must contain except the abstention).
  Whether the topic is really absent is checked by hand (grep), not here.

Normalisation before matching (applied to both evidence and transcript)
- YAML front matter (a leading block between `---` lines) is skipped;
- markdown backslash escapes are undone (`\\[` -> `[`, `\\_` -> `_`, ...);
- non-breaking and other unicode spaces become spaces; typographic quotes become ASCII quotes;
- all runs of whitespace (including hard-wrap line breaks) become one space.

Turns (speaker labels)
A turn starts at a line that begins a paragraph (first line of the body, or the previous line
is blank/whitespace-only) and matches either
    LABEL:   an uppercase label (A-Z, digits, space, . , ' ’ -) followed by a colon and
             whitespace/end of line, e.g. "SECRETARY BLINKEN:", "MS. JEAN-PIERRE:", "Q:";
    Q        the letter Q followed by two or more spaces or a tab ("Q    Thank you.").
The turn's text is the rest of that line plus all lines up to the next turn start. Text before
the first label belongs to a turn with label "" (page header). The speaker is the label without
the colon, exactly as printed (leading indentation removed).

Default corpus folder: with --corpus, that folder. Otherwise data/briefings (relative to the
repo root) when every `file` is a bare file name, else ../shared/corpus/wh-briefings.

Summary: item count, per-file counts, absent count, per-speaker counts and the paraphrase share.
Paraphrase measure: question and evidence are reduced to content-word stems (lowercase
alphanumeric tokens, stopwords and question words removed, crude suffix stripping). A question
"shares distinctive wording" with its evidence if at least half of its content stems occur in
the evidence, or it shares a run of two consecutive content stems (e.g. "regional issues",
"Minsk agreements", also names like "North Korea") with the evidence. The
paraphrase share is the fraction of answerable items that do NOT share distinctive wording.

Exit status 0 when every item passes, 1 otherwise (one line per problem, naming the item id).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ABSENT = "NOT_IN_CORPUS"
FIELDS = {"id": str, "question": str, "answer": str, "answer_keywords": list,
          "evidence": str, "file": str, "speaker": str}
MIN_WORDS, MAX_WORDS = 15, 60
MIN_KEYWORDS, MAX_KEYWORDS = 2, 5

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = REPO_ROOT / "data" / "briefings"
CC0_DIR = REPO_ROOT.parent / "shared" / "corpus" / "wh-briefings"

# ---------------------------------------------------------------- normalisation

_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>~])")
_SPACES = re.compile(r"[\s\u00a0\u2000-\u200b\u202f\u205f\u3000\ufeff]+")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def normalize(text: str) -> str:
    """Undo markdown escapes, unify quotes and collapse all whitespace to single spaces."""
    text = _MD_ESCAPE.sub(r"\1", text)
    text = text.translate(_QUOTES)
    return _SPACES.sub(" ", text).strip()


# ---------------------------------------------------------------- turns

LABEL_RE = re.compile(r"^[ \t\u00a0]*(?P<label>[A-Z][A-Z0-9 .,'\u2019\-]*?)[ \t]*:(?=\s|$)(?P<rest>.*)$")
Q_RE = re.compile(r"^[ \t\u00a0]*(?P<label>Q)(?:[ \t\u00a0]{2,}|\t)(?P<rest>.*)$|^[ \t\u00a0]*(?P<label2>Q)[ \t\u00a0]*$")


@dataclass
class Turn:
    label: str
    text: str  # normalised


def strip_front_matter(text: str) -> str:
    lines = text.split("\n")
    if lines and lines[0].strip() == "---":
        for i in range(1, len(lines)):
            if lines[i].strip() == "---":
                return "\n".join(lines[i + 1:])
    return text


def _label_of(line: str) -> tuple[str, str] | None:
    m = LABEL_RE.match(line)
    if m and re.search(r"[A-Z]", m.group("label")):
        return m.group("label").strip(), m.group("rest")
    m = Q_RE.match(line)
    if m:
        return "Q", (m.group("rest") or "")
    return None


def parse_turns(raw: str) -> list[Turn]:
    """Split a transcript into labelled turns (see module docstring for the rule)."""
    body = strip_front_matter(raw.replace("\r\n", "\n").replace("\r", "\n"))
    turns: list[tuple[str, list[str]]] = [("", [])]
    prev_blank = True
    for line in body.split("\n"):
        hit = _label_of(line) if prev_blank else None
        if hit:
            turns.append((hit[0], [hit[1]]))
        else:
            turns[-1][1].append(line)
        prev_blank = not _SPACES.sub("", line)
    return [Turn(label, normalize("\n".join(lines))) for label, lines in turns]


# ---------------------------------------------------------------- paraphrase measure

STOPWORDS = set("""
a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing done down during each few for from further
had has have having he her here hers herself him himself his i if in into is it its itself just
me more most my myself no nor not now of off on once only or other our ours ourselves out over own
same she should so some such than that the their theirs them themselves then there these they this
those through to too under until up very was we were what when where which while who whom why will
with would you your yours yourself yourselves how whose whether
say said says tell told according mention mentioned describe described give gave make made get got
u.s us one two official officials senior administration state department secretary briefing
call question ask asked answer kind way thing things any anything something
""".split())


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def content_stems(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+(?:'[a-z]+)?", normalize(text).lower())
    out = []
    for w in words:
        w = re.sub(r"'(s|t|re|ve|ll|d|m)$", "", w)
        if w in STOPWORDS or len(w) < 3 and not w.isdigit():
            continue
        out.append(_stem(w))
    return out


def wording_overlap(question: str, evidence: str) -> tuple[float, bool]:
    """Return (share of question content stems found in evidence, shares distinctive wording)."""
    q, e = content_stems(question), content_stems(evidence)
    if not q:
        return 0.0, False
    eset = set(e)
    share = sum(1 for w in set(q) if w in eset) / len(set(q))
    e_pairs = {tuple(e[i:i + 2]) for i in range(len(e) - 1)}
    pair = any(tuple(q[i:i + 2]) in e_pairs for i in range(len(q) - 1))
    return share, share >= 0.5 or pair


# ---------------------------------------------------------------- checking

def default_corpus(items: list[dict]) -> Path:
    files = [it.get("file") for it in items if isinstance(it.get("file"), str) and it.get("file")]
    if files and all("/" not in f for f in files):
        return SAMPLE_DIR
    return CC0_DIR


class Checker:
    def __init__(self, corpus: Path):
        self.corpus = corpus
        self._turns: dict[str, list[Turn] | str] = {}

    def turns(self, file: str) -> list[Turn] | str:
        """Turns of `file`, or an error string."""
        if file not in self._turns:
            path = (self.corpus / file).resolve()
            if ".." in Path(file).parts or Path(file).is_absolute():
                self._turns[file] = f"file {file!r} must be relative to the corpus folder"
            elif not path.is_file():
                self._turns[file] = f"file {file!r} not found in {self.corpus}"
            else:
                self._turns[file] = parse_turns(path.read_text(encoding="utf-8", errors="replace"))
        return self._turns[file]

    def check_item(self, item: dict) -> list[str]:
        problems = []
        missing = set(FIELDS) - set(item)
        extra = set(item) - set(FIELDS)
        if missing:
            problems.append(f"missing field(s): {', '.join(sorted(missing))}")
        if extra:
            problems.append(f"unexpected field(s): {', '.join(sorted(extra))}")
        for name, typ in FIELDS.items():
            if name in item and not isinstance(item[name], typ):
                problems.append(f"field {name!r} must be {typ.__name__}, got {type(item[name]).__name__}")
        if problems:
            return problems
        kws = item["answer_keywords"]
        if not all(isinstance(k, str) for k in kws):
            return ["answer_keywords must be a list of strings"]
        if not item["question"].strip():
            problems.append("empty question")
        if not item["answer"].strip():
            problems.append("empty answer")

        if item["answer"] == ABSENT:
            for name in ("evidence", "file", "speaker"):
                if item[name] != "":
                    problems.append(f"absent item must have empty {name}")
            if kws:
                problems.append("absent item must have answer_keywords == []")
            return problems

        for name in ("evidence", "file", "speaker"):
            if not item[name].strip():
                problems.append(f"answerable item has empty {name}")
        if not MIN_KEYWORDS <= len(kws) <= MAX_KEYWORDS:
            problems.append(f"{len(kws)} answer_keywords (need {MIN_KEYWORDS}-{MAX_KEYWORDS})")
        evidence = normalize(item["evidence"])
        haystack = (evidence + " " + normalize(item["answer"])).lower()
        for k in kws:
            if not k.strip():
                problems.append("empty keyword")
            elif k != k.lower():
                problems.append(f"keyword {k!r} is not lowercase")
            elif normalize(k) not in haystack:
                problems.append(f"keyword {k!r} occurs in neither evidence nor answer")
        n_words = len(evidence.split())
        if not MIN_WORDS <= n_words <= MAX_WORDS:
            problems.append(f"evidence has {n_words} words (need {MIN_WORDS}-{MAX_WORDS})")
        if not evidence or not item["file"].strip():
            return problems

        turns = self.turns(item["file"])
        if isinstance(turns, str):
            return problems + [turns]
        labels = [t.label for t in turns if evidence in t.text]
        if not labels:
            whole = " ".join(t.text for t in turns)
            if evidence in whole:
                problems.append("evidence spans a turn boundary")
            else:
                problems.append(f"evidence not found in {item['file']}")
        elif item["speaker"] not in labels:
            found = ", ".join(sorted(set(repr(lab) for lab in labels)))
            problems.append(f"speaker {item['speaker']!r} wrong: evidence is in a turn labelled {found}")
        return problems


def load(path: Path) -> tuple[list[dict], list[str]]:
    items, problems = [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {n}: invalid JSON ({exc.msg})")
            continue
        if not isinstance(obj, dict):
            problems.append(f"line {n}: not a JSON object")
            continue
        obj.setdefault("__line__", n)
        items.append(obj)
    return items, problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Validate a gold Q&A JSONL file against its transcripts.")
    ap.add_argument("gold", type=Path)
    ap.add_argument("--corpus", type=Path, default=None,
                    help="folder the `file` fields are relative to (default: see module docstring)")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="also list each answerable item's wording overlap with its evidence")
    args = ap.parse_args(argv)
    if not args.gold.is_file():
        print(f"{args.gold}: no such file", file=sys.stderr)
        return 1
    items, problems = load(args.gold)
    corpus = args.corpus or default_corpus(items)
    if not corpus.is_dir():
        print(f"corpus folder {corpus} not found", file=sys.stderr)
        return 1
    checker = Checker(corpus)
    ids = Counter(it.get("id") for it in items)
    per_file, per_speaker = Counter(), Counter()
    absent = paraphrased = answerable = 0
    overlaps = []
    for it in items:
        line = it.pop("__line__")
        iid = it.get("id") if isinstance(it.get("id"), str) and it.get("id") else f"line {line}"
        if ids[it.get("id")] > 1:
            problems.append(f"{iid}: duplicate id")
        for p in checker.check_item(it):
            problems.append(f"{iid}: {p}")
        if it.get("answer") == ABSENT:
            absent += 1
            continue
        answerable += 1
        per_file[it.get("file")] += 1
        per_speaker[it.get("speaker")] += 1
        if isinstance(it.get("question"), str) and isinstance(it.get("evidence"), str):
            share, shares = wording_overlap(it["question"], it["evidence"])
            overlaps.append(share)
            paraphrased += not shares
            if args.verbose:
                print(f"{iid}: overlap {share:.2f} {'SHARES' if shares else 'paraphrase'}  {it['question']}")

    print(f"gold: {args.gold}  corpus: {corpus}")
    print(f"items: {len(items)}  answerable: {answerable}  absent (NOT_IN_CORPUS): {absent}")
    print("per file:")
    for f, n in sorted(per_file.items()):
        print(f"  {n:4d}  {f}")
    print("per speaker:")
    for s, n in per_speaker.most_common():
        print(f"  {n:4d}  {s}")
    if answerable:
        mean = sum(overlaps) / len(overlaps) if overlaps else 0.0
        print(f"paraphrased (question shares no distinctive wording with evidence): "
              f"{paraphrased}/{answerable} = {paraphrased / answerable:.0%}; "
              f"mean question content-word overlap {mean:.2f}")
    if problems:
        print(f"{len(problems)} problem(s):")
        for p in problems:
            print(f"  {p}")
        return 1
    print("OK: all items pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
