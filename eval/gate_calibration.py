#!/usr/bin/env python3
"""The abstention gate on a gold set, without the model: per item, the gate's score and whether it answers.

    .venv/bin/python eval/gate_calibration.py tune_sample [--whole-index DIR]

Prints false abstentions (answerable items the gate refuses, and whether retrieval had found the evidence)
and absent topics answered, with each item's evidence score and the names the archive never mentions: the
basis of settings.answer.relevance_min and unknown_name_penalty. Calibrate on the tuning sets (tune_sample,
tune_cc0); run the held-out sets only once the choice is frozen (eval/HELDOUT.md).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import levers  # noqa: E402  (eval/levers.py: the same sets and indexes)
from rag.answer.evidence import gate  # noqa: E402
from rag.answer.pipeline import gather  # noqa: E402
from rag.evaluation import evaluate as E  # noqa: E402
from rag.settings import current  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("set", choices=sorted(levers.SETS))
    p.add_argument("--whole-index", help="an index of the whole CC0 corpus, for the *_all sets")
    p.add_argument("-k", type=int, default=5, help="passages an answer reads (as `rag ask`)")
    args = p.parse_args(argv)
    gold, index = levers.open_set(args.set, args.whole_index)
    cfg = current().answer
    rows = []
    for item in gold:
        q = item["question"]
        _, passages, _, evidence = gather(index, q, args.k)
        g = gate(q, passages, evidence, index.mentions)
        absent = E.is_absent(item)
        found = not absent and any(E.relevance(passages, item, E.gold_doc_ids(index, item["file"])))
        rows.append((item, absent, found, g))
    answerable = [r for r in rows if not r[1]]
    absent = [r for r in rows if r[1]]
    false_abstain = [r for r in answerable if not r[3].ok]
    answered_absent = [r for r in absent if r[3].ok]
    print(f"{args.set}: relevance_min {cfg.relevance_min}, unknown_name_penalty {cfg.unknown_name_penalty}")
    print(f"false abstentions: {len(false_abstain)} of {len(answerable)} answerable "
          f"({sum(r[2] for r in false_abstain)} of them with the evidence retrieved)")
    print(f"absent topics abstained: {len(absent) - len(answered_absent)} of {len(absent)}")
    for item, is_absent, found, g in false_abstain + answered_absent:
        tag = "answered (absent)" if is_absent else f"abstained (evidence {'retrieved' if found else 'not retrieved'})"
        print(f"  {item['id']} {tag}: score {g.score:.3f} (evidence {g.relevance:.3f}, coverage {g.coverage:.2f}, never in the archive "
              f"{g.unknown or '-'}) | {item['question'][:90]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
