"""Print dense vs BM25 vs hybrid retrieval quality on the retrieval questions.

    .venv/bin/python eval/compare_modes.py [--index DIR] [--questions FILE] [-k 5] [--verbose]

    .venv/bin/python eval/compare_modes.py --index /tmp/ix --distractors ../shared/corpus/wh-briefings/...

A question counts as a hit when one of the top k passages comes from the expected
briefing file AND is spoken by the expected speaker. Without --index, the bundled
sample (data/briefings) is indexed into a temporary folder first.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag.indexing.index import Index  # noqa: E402

QUESTIONS = ROOT / "tests" / "retrieval_questions.json"
MODES = ("dense", "bm25", "hybrid")


def load_questions(path=QUESTIONS) -> list[dict]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def first_hit_rank(hits, q: dict):
    """1-based rank of the first hit from the expected file and speaker, or None."""
    for h in hits:
        if Path(h.path).name == q["file"] and (h.speaker or "").upper() == q["speaker"].upper():
            return h.rank
    return None


def evaluate(index, questions: list[dict], k: int = 5) -> dict[str, list]:
    """mode -> per-question rank of the first right hit (None = not in the top k)."""
    return {mode: [first_hit_rank(index.search(q["question"], k=k, mode=mode), q) for q in questions]
            for mode in MODES}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", default=None,
                    help="index folder: opened if it exists, else the sample (+ distractors) is indexed into it "
                         "(default: a temporary folder)")
    ap.add_argument("--distractors", nargs="*", default=[], metavar="PATH",
                    help="more transcripts to index beside the sample, competing with the right passages")
    ap.add_argument("--questions", default=str(QUESTIONS))
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--verbose", action="store_true", help="list each question's rank per mode")
    args = ap.parse_args(argv)
    questions = load_questions(args.questions)
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(args.index) if args.index else Path(tmp)
        if args.index and (where / "manifest.json").is_file():
            index = Index.open(where)
        else:
            index = Index.build([ROOT / "data" / "briefings", *args.distractors], path=where)
        ranks = evaluate(index, questions, args.k)
    n = len(questions)
    docs = sum(1 for d in index.documents if not d.get("duplicate_of"))
    print(f"{n} questions, {docs} documents, {len(index)} chunks; hit = expected briefing AND speaker in the top {args.k}\n")
    print(f"{'mode':<8} {'hit@1':>7} {'hit@' + str(args.k):>7} {'MRR@' + str(args.k):>7}")
    for mode in MODES:
        r = ranks[mode]
        hits = sum(x is not None for x in r)
        mrr = sum(1 / x for x in r if x) / n
        top1 = sum(x == 1 for x in r)
        print(f"{mode:<8} {top1:>3}/{n:<3} {hits:>3}/{n:<3} {mrr:>7.3f}")
    if args.verbose:
        print()
        for i, q in enumerate(questions):
            cells = "  ".join(f"{m}={ranks[m][i] or '-'}" for m in MODES)
            print(f"{cells}  {q['question']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
