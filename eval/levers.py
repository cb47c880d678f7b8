#!/usr/bin/env python3
"""Retrieval levers on the gold sets: passage hit@5 / document hit@5 per mode for settings variants.

    .venv/bin/python eval/levers.py --sets tune_sample,tune_cc0 \
        --variants '{"window 0": {"passage_window": 0}, "window 1": {"passage_window": 1}}'

Variants are fields of `rag.settings.RetrievalSettings`. Choose a lever on the tuning sets
(tune_sample, tune_cc0, tune_cc0_all) only; the held-out sets (held_sample, held_cc0, held_cc0_all) are
measured once the choice is frozen (eval/HELDOUT.md). The *_all sets search the whole corpus (--whole-index). CC0 sets index their gold files plus 50 distractors (the same
selection as `rag eval --corpus-subset gold+50`), each in its own cached index folder.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from rag import Index, settings
from rag.evaluation import evaluate as E
from rag.resources import cache_dir

EVAL = Path(__file__).resolve().parent
SETS = {"tune_sample": ("gold_sample.jsonl", None), "tune_cc0": ("gold_cc0.jsonl", 50),
        "tune_cc0_all": ("gold_cc0.jsonl", "all"),
        "held_sample": ("heldout_sample.jsonl", None), "held_cc0": ("heldout_cc0.jsonl", 50),
        "held_cc0_all": ("heldout_cc0.jsonl", "all"), "held2_sample": ("heldout2_sample.jsonl", None),
        "tune_absent_sample": ("tuning_absent_sample.jsonl", None)}
MODES = ("hybrid", "dense", "bm25")


def open_set(name: str, whole_index: str | None = None):
    gold_file, subset = SETS[name]
    gold = E.load_gold(EVAL / gold_file)
    if subset == "all":   # the whole corpus: an index built beforehand (`rag ingest CORPUS --index DIR`, ~45 min)
        if not whole_index:
            sys.exit(f"{name} needs --whole-index DIR: an index of the whole CC0 corpus")
        index = Index.open(whole_index)
        if index.outdated:
            sys.exit(f"{whole_index} was built by an older version ({index.outdated}): upgrade it in place with `rag ingest CORPUS --index DIR`")
        return gold, index
    corpus = Path(E.cc0_corpus() if E.uses_relative_paths(gold) else E.sample_corpus()).resolve()
    files = E.select_files(gold, corpus, subset)
    folder = cache_dir() / f"levers-{Path(gold_file).stem}-{'all' if subset is None else f'gold+{subset}'}"
    return gold, E.open_index(folder, files, corpus, managed=True)   # upgraded first when an older version built it


def measure(gold, index, k: int = 5) -> dict[str, tuple[float, float]]:
    """mode -> (passage hit@k, document hit@k) over the answerable items."""
    out = {}
    items = [g for g in gold if not E.is_absent(g)]
    for mode in MODES:
        hit = doc = 0
        for item in items:
            hits = index.search(item["question"], k=k, mode=mode)
            ids = E.gold_doc_ids(index, item["file"])
            hit += any(E.relevance(hits, item, ids))
            doc += any(E.from_gold(h, item, ids) for h in hits)
        out[mode] = (hit / len(items), doc / len(items))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", default="tune_sample,tune_cc0", help=f"comma-separated, of {', '.join(SETS)}")
    p.add_argument("--variants", default='{"default": {}}', help="JSON: name -> RetrievalSettings fields")
    p.add_argument("--whole-index", help="an index of the whole CC0 corpus, for the *_all sets")
    args = p.parse_args(argv)
    variants = json.loads(args.variants)
    base = settings.current()
    print("| variant | set | " + " | ".join(f"{m} hit@5 (doc)" for m in MODES) + " |")
    print("|---|---|" + "---|" * len(MODES))
    for name in args.sets.split(","):
        gold, index = open_set(name, args.whole_index)
        for vname, fields in variants.items():
            settings.use(replace(base, retrieval=replace(base.retrieval, **fields)))
            t = time.perf_counter()
            r = measure(gold, index)
            settings.use(base)
            print(f"| {vname} | {name} | " + " | ".join(f"{h:.3f} ({d:.3f})" for h, d in r.values())
                  + f" |  <!-- {time.perf_counter() - t:.0f} s -->", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
