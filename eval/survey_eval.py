"""Survey quality and speed on the topic gold set (eval/topics_cc0.jsonl, eval/TOPICS.md).

For each topic: the briefings `index.survey(topic)` finds against the briefings the gold lists (recall,
precision; a found briefing the gold neither lists nor rejected counts as wrong, and is also counted apart as
"unjudged"); the same with the pooled judgments of those unjudged briefings (eval/topics_cc0_pooled.jsonl, made
after the first held-out run by judges who saw the found passage but no score), whether every quote is verbatim in the raw file inside a turn of the speaker it names (read with
eval/check_gold.py's parser, independent of the package), and the time of a survey with its chart (p50/p95).

    .venv/bin/python eval/survey_eval.py --index /work/idxall --split heldout
    .venv/bin/python eval/survey_eval.py --index /work/idxall --split tuning,seen --grid   # choose the settings

`--grid` sweeps settings.survey.floor, topic_weight, question_weight and missing_penalty (with names_apart and
contrast_margin as variants) over the chosen split and prints the best macro F1; run it on the tuning and seen
splits only, never on heldout (eval/TOPICS.md).
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

from check_gold import normalize, parse_turns  # noqa: E402

from rag import Index  # noqa: E402
from rag.retrieval import Filters  # noqa: E402
from rag.settings import current, offline_environment  # noqa: E402
from rag.survey.chart import chart_rows, save_chart  # noqa: E402
from rag.survey.find import candidates, relevance  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "wh-briefings"


def load_gold(path: Path, split: str, pooled: Path | None = None) -> list[dict]:
    """The topics of `split`; with `pooled` (eval/topics_cc0_pooled.jsonl), each item also gets `pooled_in` and
    `pooled_out`: briefings a survey found that the gold had not judged, judged afterwards by the same rules."""
    items = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    items = [i for i in items if split == "all" or i["split"] in split.split(",")]
    extra = [json.loads(x) for x in pooled.read_text(encoding="utf-8").splitlines() if x.strip()] \
        if pooled and pooled.exists() else []
    for i in items:
        i["pooled_in"] = [p["file"] for p in extra if p["topic_id"] == i["id"] and p["verdict"] == "in"]
        i["pooled_out"] = [p["file"] for p in extra if p["topic_id"] == i["id"] and p["verdict"] == "out"]
    return items


def doc_ids(index: Index, corpus: Path) -> dict[str, str]:
    """corpus-relative path -> doc_id, for every indexed file (duplicates map to the one doc_id)."""
    out = {}
    root = corpus.resolve()
    for d in index.documents:
        p = Path(d.get("path") or d["key"]).resolve()
        try:
            out[str(p.relative_to(root))] = d["doc_id"]
        except ValueError:
            continue
    return out


def scores(found: set[str], gold: set[str], judged: set[str]) -> dict:
    hit = len(found & gold)
    return {"gold": len(gold), "found": len(found), "correct": hit,
            "recall": hit / len(gold) if gold else 1.0, "precision": hit / len(found) if found else 1.0,
            "unjudged": len(found - judged)}


_LABEL = re.compile(r"(?m)^[ \t\u00a0]*(?P<label>Q|[A-Z][A-Z0-9 .,'\u2019\-]*?)[ \t]*:?(?=[ \t\u00a0]{2,}|:)")


def label_before(raw: str, quote: str) -> str | None:
    """The speaker label of the raw file's last turn that starts before the quote's first words, found with a
    whitespace-tolerant search (a second, simpler reading for quotes check_gold's turns cannot place: a label right
    after a time stamp, a label line after a line of non-breaking spaces, [bracketed] corrections in a quote)."""
    words = re.findall(r"[\w’']+", quote)[:6]
    if len(words) < 3:
        return None
    m = re.search(r"[^\w’']+".join(re.escape(w) for w in words), raw)
    if not m:
        return None
    labels = [x["label"].strip() for x in _LABEL.finditer(raw[:m.start()])]
    return labels[-1] if labels else None


def by_title(raw: str, turns: list, speaker: str, quote: str) -> bool:
    """A third, independent reading for a text nobody is labelled in (a speech as prepared, a statement):
    check_gold's parser finds no label in the file, the quote is in it, and the front matter's title holds the
    speaker's surname ("Remarks as Prepared for Delivery by First Lady Jill Biden at ...": FIRST LADY JILL BIDEN)."""
    title = re.search(r"(?m)^title:\s*(.+(?:\n[ \t]+.+)*)", raw)
    surname = (speaker or "").split()[-1:] or [""]
    return (not any(t.label for t in turns) and bool(title) and normalize(quote) in normalize(raw)
            and re.search(r"\b" + re.escape(surname[0]) + r"\b", title.group(1).replace("\\_", " "), re.I) is not None)


def verbatim_problems(survey) -> tuple[list[str], int, int]:
    """Quotes not placed in a turn of the speaker they are attributed to: (problems, placed only by label_before,
    placed by the title's byline)."""
    problems, by_position, by_byline = [], 0, 0
    cache: dict[str, tuple] = {}
    for s in survey.statements:
        p = Path(s.path)
        if p not in cache:
            raw = p.read_text(encoding="utf-8", errors="replace")
            cache[p] = (raw, parse_turns(raw))
        raw, turns = cache[p]
        quote = normalize(s.quote)
        if any(t.label == s.speaker and quote in t.text for t in turns):
            continue
        if label_before(raw, s.quote) == s.speaker:
            by_position += 1
            continue
        if by_title(raw, turns, s.speaker, s.quote):
            by_byline += 1
            continue
        problems.append(f"[{s.n}] {p.name}: {s.speaker} (last label before it: {label_before(raw, s.quote)}): "
                        f"{s.quote[:80]!r}")
    return problems, by_position, by_byline


def evaluate(index: Index, items: list[dict], corpus: Path) -> dict:
    ids = doc_ids(index, corpus)
    rows, times, chart_times, problems = [], [], [], []
    tmp = Path(tempfile.mkdtemp())
    for item in items:
        gold = {ids[b["file"]] for b in item["briefings"] if b["file"] in ids}
        judged = gold | {ids[r["file"]] for r in item["rejected"] if r["file"] in ids}
        pooled_gold = gold | {ids[f] for f in item.get("pooled_in", []) if f in ids}
        pooled_judged = judged | pooled_gold | {ids[f] for f in item.get("pooled_out", []) if f in ids}
        t0 = time.perf_counter()
        survey = index.survey(item["topic"])
        t1 = time.perf_counter()
        chart_rows(survey)
        if not survey.abstained:
            save_chart(survey, tmp / f"{item['id']}.png")
        t2 = time.perf_counter()
        times.append(t1 - t0)
        chart_times.append(t2 - t0)
        found = {s.doc_id for s in survey.statements}
        r = {"id": item["id"], "topic": item["topic"], **scores(found, gold, judged),
             "seconds": round(t1 - t0, 3), "with_chart_s": round(t2 - t0, 3), "threads": len(survey.threads),
             "pooled": {k: v for k, v in scores(found, pooled_gold, pooled_judged).items()}}
        bad, placed, bylined = verbatim_problems(survey)
        r["not_verbatim"], r["placed_by_position"], r["placed_by_title"] = len(bad), placed, bylined
        problems += bad
        rows.append(r)
    return {"rows": rows, "times": times, "chart_times": chart_times, "problems": problems}


def summary(rows: list[dict], key: str | None = None) -> dict:
    rows = [r[key] for r in rows] if key else rows
    g = sum(r["gold"] for r in rows)
    f = sum(r["found"] for r in rows)
    c = sum(r["correct"] for r in rows)
    return {"macro_recall": statistics.mean(r["recall"] for r in rows),
            "macro_precision": statistics.mean(r["precision"] for r in rows),
            "micro_recall": c / g if g else 1.0, "micro_precision": c / f if f else 1.0}


def grid(index: Index, items: list[dict], corpus: Path) -> None:
    """Sweep floor, topic_weight, question_weight and missing_penalty over precomputed candidates, for each
    variant of the candidate-side levers (names_apart, contrast_margin); print the best macro recall/precision/F1
    overall and per variant, and the F1 along the floor at the chosen weights (the plateau)."""
    ids = doc_ids(index, corpus)
    cfg = current().survey
    view = index._view
    index._loaded_embedder()
    results = []
    floors = np.arange(0.40, 1.5, 0.025)
    for names, margin in [(False, None), (True, None), (True, 0.0), (True, 0.06)]:
        cands = []
        for item in items:
            gold = {ids[f] for f in [b["file"] for b in item["briefings"]] + item.get("pooled_in", []) if f in ids}
            c = candidates(view, item["topic"], Filters(), replace(cfg, names_apart=names, contrast_margin=margin))
            docs = np.array([view.chunks[r].doc_id for r in c.rows.tolist()], dtype=object)
            cands.append((item, gold, c, docs))
        for weight in (0.8, 1.0, 1.2, 1.5):
            for qweight in (0.5, 1.0):
                for penalty in (0.0, 0.25, 0.5, 0.75, 1.0, 1.5):
                    s = replace(cfg, topic_weight=weight, question_weight=qweight, missing_penalty=penalty,
                                names_apart=names, contrast_margin=margin)
                    rels = [relevance(c, s) for _, _, c, _ in cands]
                    for floor in floors:
                        rec, prec = [], []
                        for (item, gold, c, docs), rel in zip(cands, rels):
                            sc = scores(set(docs[rel >= floor].tolist()), gold, gold)
                            rec.append(sc["recall"])
                            prec.append(sc["precision"])
                        r, p = statistics.mean(rec), statistics.mean(prec)
                        results.append((2 * r * p / (r + p) if r + p else 0, r, p, round(float(floor), 3), weight,
                                        qweight, penalty, names, -1 if margin is None else margin))
    print("F1     recall precision floor weight question_weight missing_penalty names_apart contrast_margin")
    for f1, r, p, floor, weight, qweight, pen, names, margin in sorted(results, reverse=True)[:10]:
        print(f"{f1:.3f}  {r:.3f}  {p:.3f}     {floor:.3f} {weight}  {qweight}  {pen}  {names}  {margin}")
    for key in sorted({(x[6], x[7], x[8]) for x in results}):
        best = max(x for x in results if (x[6], x[7], x[8]) == key)
        print(f"best at missing_penalty {key[0]}, names_apart {key[1]}, contrast_margin "
              f"{'off' if key[2] < 0 else key[2]}: F1 {best[0]:.3f} (recall {best[1]:.3f}, precision {best[2]:.3f}, "
              f"floor {best[3]:.3f}, weight {best[4]}, question_weight {best[5]})")
    at = [x for x in results if x[4] == cfg.topic_weight and x[5] == cfg.question_weight and x[7] == cfg.names_apart
          and x[8] == (-1 if cfg.contrast_margin is None else cfg.contrast_margin)]
    for pen in sorted({x[6] for x in at}):
        row = sorted((x[3], x[0]) for x in at if x[6] == pen and 0.7 <= x[3] <= 1.2 and round(x[3] * 40) % 2 == 0)
        print(f"missing_penalty {pen}, F1 along the floor: " + " ".join(f"{f:.2f}:{v:.3f}" for f, v in row))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gold", type=Path, default=ROOT / "eval" / "topics_cc0.jsonl")
    ap.add_argument("--index", type=Path, required=True, help="an index of the whole CC0 corpus (`rag ingest`)")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--split", default="heldout",
                    help="tuning, seen, heldout, all, or a comma list (tuning,seen); eval/TOPICS.md says which is which")
    ap.add_argument("--pooled", type=Path, default=ROOT / "eval" / "topics_cc0_pooled.jsonl",
                    help="pooled judgments of briefings the gold had not judged (reported beside the gold's figures)")
    ap.add_argument("--grid", action="store_true", help="sweep floor and topic weight (tuning split only)")
    ap.add_argument("--out", type=Path, default=None, help="write the per-topic rows as JSON")
    args = ap.parse_args()
    offline_environment()
    items = load_gold(args.gold, args.split, args.pooled)
    if not items:
        ap.error(f"no topic of split {args.split!r} in {args.gold} (eval/TOPICS.md: every set has been seen; "
                 f"write a new held-out set before measuring the next change)")
    index = Index.open(args.index)
    if args.grid:
        if "heldout" in args.split or args.split == "all":
            ap.error("--grid chooses settings: run it on the tuning (and seen) topics only, never on heldout")
        grid(index, items, args.corpus)
        return 0
    index.survey("warm-up")   # loads the embedder once, as a running app has
    out = evaluate(index, items, args.corpus)
    print(f"{'id':5} {'topic':34} {'gold':>5} {'found':>5} {'recall':>6} {'prec':>6} {'unjdg':>5} "
          f"{'| pooled:':>9} {'gold':>5} {'recall':>6} {'prec':>6} {'unjdg':>5} {'s':>6} {'+chart':>6}")
    for r in out["rows"]:
        p = r["pooled"]
        print(f"{r['id']:5} {r['topic'][:34]:34} {r['gold']:5} {r['found']:5} {r['recall']:6.3f} {r['precision']:6.3f} "
              f"{r['unjudged']:5} {'|':>9} {p['gold']:5} {p['recall']:6.3f} {p['precision']:6.3f} {p['unjudged']:5} "
              f"{r['seconds']:6.2f} {r['with_chart_s']:6.2f}")
    s = summary(out["rows"])
    sp = summary(out["rows"], "pooled")
    t = sorted(out["chart_times"])
    print(f"\n{args.split}: macro recall {s['macro_recall']:.3f}, macro precision {s['macro_precision']:.3f}; "
          f"micro recall {s['micro_recall']:.3f}, micro precision {s['micro_precision']:.3f}")
    print(f"with pooled judgments: macro recall {sp['macro_recall']:.3f}, macro precision {sp['macro_precision']:.3f}; "
          f"micro recall {sp['micro_recall']:.3f}, micro precision {sp['micro_precision']:.3f}")
    print(f"survey + chart seconds: p50 {statistics.median(t):.2f}, p95 {t[min(len(t) - 1, int(0.95 * len(t)))]:.2f}"
          f" (survey alone p50 {statistics.median(out['times']):.2f})")
    quotes = sum(r["found"] for r in out["rows"])
    print(f"quotes: {quotes}; in a turn of the named speaker by check_gold's parser: "
          f"{quotes - len(out['problems']) - sum(r['placed_by_position'] + r['placed_by_title'] for r in out['rows'])}; "
          f"placed by the label before them: {sum(r['placed_by_position'] for r in out['rows'])}; by the title's byline "
          f"(no label in the text): {sum(r['placed_by_title'] for r in out['rows'])}; not placed: {len(out['problems'])}")
    for p in out["problems"][:20]:
        print("  " + p)
    if args.out:
        args.out.write_text(json.dumps({"split": args.split, "summary": s, "pooled_summary": sp, **out}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
