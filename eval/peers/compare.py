#!/usr/bin/env python
"""Side-by-side retrieval benchmark: our system vs. a default Haystack 2.x pipeline (the peer).

Run in the project's venv:

    .venv/bin/python eval/peers/compare.py eval/gold_sample.jsonl [--corpus DIR] \
        [--corpus-subset gold+N] [--out FILE.json]

Both systems index the same files (the project's own selection, as `rag eval` makes it) and
answer the same gold questions; both are scored with the project's own relevance rule (a passage
is relevant when it is from the gold file and contains the gold evidence, rag metrics'
file_matches + contains_evidence; NOT_IN_CORPUS items are skipped). The peer runs in its own
venv, eval/peers/.venv-haystack, created here on first use from requirements-haystack.txt.
This is a benchmark, not a dependency of the product.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere: import the project's package
    sys.path.insert(0, str(REPO))

from rag import Index  # noqa: E402
from rag.evaluation import evaluate as E  # noqa: E402
from rag.evaluation import metrics as M  # noqa: E402

PEER_VENV = HERE / ".venv-haystack"
PEER_PY = PEER_VENV / "bin" / "python"
PEER_SCRIPT = HERE / "haystack_peer.py"
REQUIREMENTS = HERE / "requirements-haystack.txt"
TORCH = "torch==2.13.0"  # CPU build from this machine's local wheels; a plain `torch` pulls CUDA (GBs)
MODES = ("hybrid", "dense", "bm25")
K = 10
ABSENT = getattr(E, "ABSENT", "NOT_IN_CORPUS")


# ----------------------------------------------------------------------------- peer venv
def _stamp() -> str:
    return hashlib.sha256((TORCH + "\n" + REQUIREMENTS.read_text(encoding="utf-8")).encode()).hexdigest()[:16]


def ensure_peer_venv() -> Optional[float]:
    """Create / update eval/peers/.venv-haystack when missing or its requirements changed.
    Returns the install time in seconds, or None when the venv was already up to date."""
    marker = PEER_VENV / ".installed"
    if PEER_PY.exists() and marker.is_file() and marker.read_text().strip() == _stamp():
        return None
    t0 = time.perf_counter()
    print(f"compare: installing the peer venv {PEER_VENV} (first run only; a few minutes)", file=sys.stderr)
    if not PEER_PY.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    pip = [str(PEER_PY), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run(pip + [TORCH], check=True)
    subprocess.run(pip + ["-r", str(REQUIREMENTS)], check=True)
    marker.write_text(_stamp() + "\n")
    secs = time.perf_counter() - t0
    print(f"compare: peer venv ready in {secs:.0f}s", file=sys.stderr)
    return secs


def run_peer(files: list[Path], gold: list[dict[str, Any]], workdir: Path, k: int) -> dict[str, Any]:
    files_list = workdir / "files.txt"
    files_list.write_text("".join(f"{p}\n" for p in files), encoding="utf-8")
    questions = workdir / "questions.json"
    questions.write_text(json.dumps([{"id": it["id"], "question": it["question"]} for it in gold],
                                    ensure_ascii=False), encoding="utf-8")
    out = workdir / "peer.json"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               HAYSTACK_TELEMETRY_ENABLED="False")
    env.pop("PYTHONPATH", None)  # the peer must not see the project's package
    t0 = time.perf_counter()
    subprocess.run([str(PEER_PY), str(PEER_SCRIPT), "--files-list", str(files_list), "--questions", str(questions),
                    "--out", str(out), "--k", str(k)], check=True, env=env, cwd=str(workdir))
    data = json.loads(out.read_text(encoding="utf-8"))
    data["wall_s"] = round(time.perf_counter() - t0, 3)
    return data


# ----------------------------------------------------------------------------- our system
def run_ours(files: list[Path], gold: list[dict[str, Any]], index_dir: Path, k: int):
    """Build our index over the files and search every gold question in every mode."""
    t0 = time.perf_counter()
    index = Index.build([str(p) for p in files], path=str(index_dir))
    index_s = time.perf_counter() - t0
    results: dict[str, dict[str, list]] = {m: {} for m in MODES}
    for item in gold:
        for m in MODES:
            results[m][item["id"]] = index.search(item["question"], k=k, mode=m)
    return index, index_s, results


def gold_doc_ids(index, gold_file: str) -> set:
    """doc_ids of the gold file in our index (a duplicate transcript is indexed under another file's
    name; `rag eval` matches hits by doc_id too). Uses the eval's own helper when it has one."""
    helper = getattr(E, "gold_doc_ids", None)
    if helper is not None:
        return helper(index, gold_file)
    out = set()
    for d in getattr(index, "documents", None) or []:
        if d.get("doc_id") and (M.file_matches(d.get("key"), gold_file) or M.file_matches(d.get("path"), gold_file)):
            out.add(d["doc_id"])
    return out


# ----------------------------------------------------------------------------- scoring
def _get(obj, name):
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def relevance(passages: list, item: dict[str, Any], doc_ids: set) -> tuple[list[bool], list[bool]]:
    """(relevant, from the gold file) per ranked passage: the project's rule (rag eval's
    from_gold + contains_evidence). A peer passage has `path` and `content`; ours `path`, `doc_id`, `text`."""
    doc, rel = [], []
    for p in passages:
        text = _get(p, "text")
        if text is None:
            text = _get(p, "content")
        from_gold = (doc_ids and _get(p, "doc_id") in doc_ids) or M.file_matches(_get(p, "path"), item["file"])
        doc.append(bool(from_gold))
        rel.append(bool(from_gold) and M.contains_evidence(item["evidence"], text))
    return rel, doc


def score(passages: list, item: dict[str, Any], doc_ids: set) -> dict[str, Any]:
    rel, doc = relevance(passages, item, doc_ids)
    return {"hit@1": M.hit_at_k(rel, 1), "hit@5": M.hit_at_k(rel, 5), "hit@10": M.hit_at_k(rel, 10),
            "mrr": M.reciprocal_rank(rel, K), "doc_hit@5": M.hit_at_k(doc, 5),
            "relevant_ranks": [i + 1 for i, r in enumerate(rel) if r]}


def summarize(per_item: list[dict[str, Any]]) -> dict[str, float]:
    keys = ("hit@1", "hit@5", "hit@10", "mrr", "doc_hit@5")
    n = len(per_item)
    out = {key: (sum(s[key] for s in per_item) / n if n else None) for key in keys}
    out["n"] = n
    return out


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def table(rows: list[tuple[str, str, dict[str, Any]]]) -> str:
    lines = ["| system | mode | hit@1 | hit@5 | hit@10 | MRR@10 | doc hit@5 | n questions |",
             "|---|---|---|---|---|---|---|---|"]
    for system, mode, s in rows:
        lines.append(f"| {system} | {mode} | {_fmt(s['hit@1'])} | {_fmt(s['hit@5'])} | {_fmt(s['hit@10'])} | "
                     f"{_fmt(s['mrr'])} | {_fmt(s['doc_hit@5'])} | {s['n']} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="hit@k of our retrieval vs. a default Haystack pipeline, same files, same gold")
    ap.add_argument("gold", help="gold JSONL (e.g. eval/gold_sample.jsonl)")
    ap.add_argument("--corpus", default=None, help="corpus folder (default: as `rag eval` picks it)")
    ap.add_argument("--corpus-subset", default=None, help="'all' (default), 'gold' or 'gold+N', as in `rag eval`")
    ap.add_argument("--out", default=None, help="write the summary and per-item results as JSON here")
    ap.add_argument("--k", type=int, default=K, help=argparse.SUPPRESS)
    ap.add_argument("--index", default=None, help="our index folder to build or update (default: a temporary one)")
    ap.add_argument("--skip-ours", action="store_true", help="score the peer only")
    ap.add_argument("--skip-peer", action="store_true", help="score our system only")
    args = ap.parse_args(argv)

    gold = E.load_gold(args.gold)
    # resolve() is the eval's own selection; it also names an index folder, which is not used here:
    # our system is built afresh in a temporary folder so both sides pay the same indexing cost.
    ns = argparse.Namespace(corpus=args.corpus, corpus_subset=args.corpus_subset, index=None)
    corpus, files, _index_dir, desc, _managed = E.resolve(ns, gold)
    answerable = [it for it in gold if it["answer"] != ABSENT]
    print(f"compare: corpus {desc}; {len(gold)} gold items, {len(answerable)} answerable", file=sys.stderr)

    rows: list[tuple[str, str, dict]] = []
    report: dict[str, Any] = {"gold": str(args.gold), "corpus": desc, "corpus_subset": args.corpus_subset or "all",
                              "files": [str(p) for p in files], "k": args.k, "n_gold": len(gold),
                              "n_answerable": len(answerable), "systems": {}}
    with tempfile.TemporaryDirectory(prefix="rag-peers-") as tmp:
        tmp = Path(tmp)
        if not args.skip_ours:
            index, index_s, ours = run_ours(files, gold, Path(args.index) if args.index else tmp / "index", args.k)
            per_mode, items = {}, {}
            for m in MODES:
                scored = []
                for it in answerable:
                    s = score(ours[m][it["id"]], it, gold_doc_ids(index, it["file"]))
                    scored.append(s)
                    items.setdefault(it["id"], {})[m] = {
                        **s, "hits": [{"path": h.path, "rank": h.rank, "text": h.text} for h in ours[m][it["id"]]]}
                per_mode[m] = summarize(scored)
                rows.append(("briefing-rag", m, per_mode[m]))
            report["systems"]["briefing-rag"] = {"index_s": round(index_s, 3), "chunks": len(index),
                                                 "summary": per_mode, "items": items}
        if not args.skip_peer:
            install_s = ensure_peer_venv()
            peer = run_peer(files, gold, tmp, args.k)
            per_mode, items = {}, {}
            for m in MODES:
                scored = []
                for it in answerable:
                    passages = peer["results"][m].get(it["id"], [])
                    s = score(passages, it, set())
                    scored.append(s)
                    items.setdefault(it["id"], {})[m] = {**s, "hits": passages}
                per_mode[m] = summarize(scored)
                rows.append(("haystack (default)", m, per_mode[m]))
            report["systems"]["haystack"] = {"pipeline": peer["pipeline"], "index_s": peer["index_s"],
                                             "wall_s": peer["wall_s"], "venv_install_s": install_s,
                                             "summary": per_mode, "items": items}

    md = table(rows)
    notes = [f"Corpus: {desc}  ", f"Gold: {args.gold} ({len(answerable)} answerable of {len(gold)}; "
             f"{ABSENT} items skipped); top-{args.k} per mode  "]
    if "briefing-rag" in report["systems"]:
        r = report["systems"]["briefing-rag"]
        notes.append(f"briefing-rag: {r['chunks']} chunks, index built in {r['index_s']:.1f}s  ")
    if "haystack" in report["systems"]:
        h = report["systems"]["haystack"]
        v = h["pipeline"]["versions"]
        notes.append(f"haystack: haystack-ai {v.get('haystack-ai')}, sentence-transformers "
                     f"{v.get('sentence-transformers')}, torch {v.get('torch')}; {h['pipeline']['chunks']} chunks, "
                     f"index built in {h['index_s']:.1f}s (subprocess total {h['wall_s']:.1f}s)  ")
    print("\n".join(notes) + "\n\n" + md)
    report["table_md"] = md
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"compare: wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
