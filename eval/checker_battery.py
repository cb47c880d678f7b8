"""The answer checker on a battery of hand-written claims (eval/checker_battery.jsonl, validated by
eval/check_battery.py): each claim cites one real passage, half supported (verbatim, paraphrase, summary), half not
(negation, changed number, changed date, swapped entity, wrong speaker, the reporter's premise as the official's).

Prints, per kind, how often the checker (rag.answer.verify, with the bundled embedder) accepts the claim, then the
balanced accuracy (mean of the accept rate on supported claims and the reject rate on unsupported ones) and the
false-accept rate of each kind of wrong claim.

    .venv/bin/python eval/checker_battery.py --split tuning|heldout|all|heldout2..heldout6 [--backend torch|onnx-int8]
                                             [--show KIND]

The battery is split by transcript file (eval/check_battery.py). The first round of rule changes was chosen on
the tuning half and measured once on the held-out half, which was then read to fix what it showed: both halves
are tuning data now. `--split heldout2` reads eval/checker_battery2.jsonl (180 claims from 30 other files,
written after that round by a helper that never ran the checker): the held-out set from then on.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.answer.verify import prepare, verify  # noqa: E402
from rag.encoders import Embedder  # noqa: E402
from rag.records import OFFICIAL, Hit  # noqa: E402
from rag.settings import current, offline_environment, use  # noqa: E402

SUPPORTED = ("verbatim", "paraphrase", "summary")
WRONG = ("negation", "number", "date", "entity", "speaker", "question")
BATTERY = ROOT / "eval" / "checker_battery.jsonl"
BATTERY2 = ROOT / "eval" / "checker_battery2.jsonl"   # later held-out batteries (180 and 170 claims, other files)
BATTERY3 = ROOT / "eval" / "checker_battery3.jsonl"
BATTERY4 = ROOT / "eval" / "checker_battery4.jsonl"
BATTERY5 = ROOT / "eval" / "checker_battery5.jsonl"
BATTERY6 = ROOT / "eval" / "checker_battery6.jsonl"


def load(path: Path = BATTERY) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _title(file: str) -> str:
    """The briefing's title as an index gives it, near enough: the CC0 file names are their titles, hyphenated
    ("2021-03-04-press-briefing-by-...-secretary-of-veterans-affairs-denis-mcdonough-march-4-2021")."""
    return Path(file).stem.replace("-", " ")


def passage(item: dict) -> Hit:
    """The cited passage as retrieval would give it: the official's words, the question as context."""
    return Hit(chunk_id=item["id"], doc_id=item["file"], path=item["file"], title=_title(item["file"]),
               date=item.get("date"), source_url=None, publisher=None, kind="press briefing",
               speaker=item["speaker"], role=OFFICIAL, text=item["passage"], question=item.get("question"),
               rank=1, score=1.0)


def accepted(item: dict, encode, views: dict | None = None) -> bool:
    """Whether the checker keeps the claim with its citation (no replacement: the claim itself). `views` caches
    each passage's sentence vectors across the claims that cite it."""
    key = (item["file"], item["passage"], item["speaker"], item.get("question"), item.get("date"))
    cache = views if views is not None else {}
    if key not in cache:
        cache[key] = prepare([passage(item)], encode)
    result = verify(item["claim"], [passage(item)], encode, replace=False, views=cache[key])
    return any(c.status in ("kept", "repaired") for c in result.checks)


def verdicts(items: list[dict], encode) -> list[bool]:
    views: dict = {}
    return [accepted(item, encode, views) for item in items]


def run(items: list[dict], encode) -> dict:
    by_kind: dict[str, list[bool]] = defaultdict(list)
    for item, ok in zip(items, verdicts(items, encode)):
        by_kind[item["kind"]].append(ok)
    sup = [a for k in SUPPORTED for a in by_kind[k]]
    wrong = [a for k in WRONG for a in by_kind[k]]
    accept = sum(sup) / len(sup) if sup else 0.0
    reject = 1 - (sum(wrong) / len(wrong)) if wrong else 0.0
    return {"per_kind": {k: {"n": len(v), "accepted": sum(v), "accept_rate": sum(v) / len(v)}
                         for k, v in by_kind.items()},
            "supported_accept_rate": accept, "unsupported_reject_rate": reject,
            "balanced_accuracy": (accept + reject) / 2,
            "worst_false_accept": max((sum(by_kind[k]) / len(by_kind[k]) for k in WRONG if by_kind[k]), default=0.0)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--battery", type=Path, default=None, help="default: eval/checker_battery.jsonl, or "
                    "eval/checker_battery2.jsonl for --split heldout2")
    ap.add_argument("--split", choices=("tuning", "heldout", "all", "heldout2", "heldout3", "heldout4", "heldout5", "heldout6"), default="all")
    ap.add_argument("--backend", default=None, help="embedding backend of the checker (default: a new index's, "
                                                     "settings.index.embed_backend)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--answer-setting", action="append", default=[], metavar="NAME=VALUE",
                    help="run with one of settings.answer changed (a number), to compare a choice; repeatable")
    ap.add_argument("--show", default=None, metavar="KIND", help="print the claims of one kind with the verdicts")
    args = ap.parse_args()
    offline_environment()
    changes = {}
    for pair in args.answer_setting:
        name, _, value = pair.partition("=")
        old = getattr(current().answer, name, None)
        if not isinstance(old, (int, float)) or isinstance(old, bool):
            ap.error(f"--answer-setting {pair}: settings.answer has no number called {name!r}")
        try:
            changes[name] = type(old)(value)
        except ValueError:
            ap.error(f"--answer-setting {pair}: {value!r} is not a {type(old).__name__}")
    if changes:
        use(replace(current(), answer=replace(current().answer, **changes)))
    battery = args.battery or {"heldout2": BATTERY2, "heldout3": BATTERY3, "heldout4": BATTERY4, "heldout5": BATTERY5, "heldout6": BATTERY6}.get(args.split, BATTERY)
    items = [i for i in load(battery) if args.split == "all" or i["split"] == args.split]
    embedder = Embedder(backend=args.backend)
    if args.show:
        shown = [i for i in items if i["kind"] == args.show]
        for item, ok in zip(shown, verdicts(shown, embedder.encode)):
            print(f"{'ACCEPT' if ok else 'reject'}  {item['id']}  {item['claim']}")
        return 0
    r = run(items, embedder.encode)
    print(f"{'kind':11} {'n':>4} {'accepted':>8} {'rate':>6}")
    for k in SUPPORTED + WRONG:
        v = r["per_kind"].get(k)
        if v:
            label = "accept" if k in SUPPORTED else "FALSE accept"
            print(f"{k:11} {v['n']:4} {v['accepted']:8} {v['accept_rate']:6.3f}  ({label})")
    print(f"\n{args.split} ({len(items)} claims): supported accepted {r['supported_accept_rate']:.3f}; unsupported rejected {r['unsupported_reject_rate']:.3f};"
          f" balanced accuracy {r['balanced_accuracy']:.3f}; worst false-accept rate {r['worst_false_accept']:.3f}")
    if args.out:
        args.out.write_text(json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
