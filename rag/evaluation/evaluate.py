"""`rag eval GOLD`: measure retrieval, answers, citations, speakers and abstention against gold Q&A.
Takes a gold set (and a corpus or index); gives per-item records and a metrics summary (JSON, Markdown).

Every number is deterministic (same index + same gold -> same numbers) except latency.
Metric definitions live in rag/metrics.py and eval/RESULTS.md.

Corpus resolution: gold whose `file` values are bare file names refers to the bundled
sample (default corpus data/briefings, default index index/); gold whose `file` values are
paths relative to a corpus folder refers to the CC0 corpus (default ../shared/corpus/wh-briefings
next to the repository; default index in the cache folder, one per corpus and subset).
`--corpus-subset gold+N` indexes only the gold files plus N distractor files drawn with a
fixed seed from the sorted list of the corpus's other files.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Optional

from tqdm import tqdm

from rag.encoders.embedder import resolve_backend
from rag.errors import IndexStateError, RagError
from rag.evaluation import metrics as M
from rag.indexing.index import Index
from rag.resources import cache_dir, cc0_corpus, sample_corpus

MODES = ("bm25", "dense", "hybrid")
K_RETRIEVE = 10
K_ANSWER = 5
ABSENT = "NOT_IN_CORPUS"
FIELDS = ("id", "question", "answer", "answer_keywords", "evidence", "file", "speaker")
TRANSCRIPT_SUFFIXES = {".md", ".markdown", ".txt", ".html", ".htm"}
SUBSET_SEED = 0
ANSWER_TIMINGS = ("retrieve_s", "first_token_s", "first_text_s", "total_s")


# ----------------------------------------------------------------------------- gold and corpus
def load_gold(path) -> list[dict[str, Any]]:
    """Read a gold JSONL file; a bad line raises RagError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise RagError(f"{path}: gold file not found")
    items, seen = [], set()
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise RagError(f"{path}:{no}: not valid JSON ({e.msg})") from None
        if not isinstance(item, dict):
            raise RagError(f"{path}:{no}: each line must be a JSON object")
        missing = [f for f in FIELDS if f not in item]
        if missing:
            raise RagError(f"{path}:{no}: missing field(s) {', '.join(missing)}")
        if not isinstance(item["answer_keywords"], list):
            raise RagError(f"{path}:{no}: answer_keywords must be a list")
        if item["id"] in seen:
            raise RagError(f"{path}:{no}: duplicate id {item['id']!r}")
        seen.add(item["id"])
        if item["answer"] != ABSENT and not (item["evidence"] and item["file"]):
            raise RagError(f"{path}:{no}: an answerable item needs evidence and file")
        items.append(item)
    if not items:
        raise RagError(f"{path}: no gold items")
    return items


def is_absent(item: dict[str, Any]) -> bool:
    return item["answer"] == ABSENT


def uses_relative_paths(gold: list[dict[str, Any]]) -> bool:
    return any("/" in it["file"] for it in gold if it["file"])


def corpus_files(corpus: Path) -> list[Path]:
    """Transcript files under the corpus folder, sorted. Top-level README/LICENSE of a
    corpus with subfolders are not transcripts and are skipped."""
    has_subdirs = any(p.is_dir() and not p.name.startswith(".") for p in corpus.iterdir())
    files = []
    for p in sorted(corpus.rglob("*")):
        rel = p.relative_to(corpus)
        if not p.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        if p.suffix.lower() not in TRANSCRIPT_SUFFIXES:
            continue
        if has_subdirs and len(rel.parts) == 1:
            continue
        files.append(p)
    return files


def gold_paths(gold: list[dict[str, Any]], corpus: Path) -> list[Path]:
    out = []
    for f in sorted({it["file"] for it in gold if it["file"]}):
        p = corpus / f
        if not p.is_file():
            raise RagError(f"gold refers to {f}, which is not in the corpus folder {corpus}")
        out.append(p)
    return out


def parse_subset(spec: Optional[str]) -> Optional[int]:
    """'gold+200' -> 200, 'gold' -> 0, None/'all' -> None (the whole corpus)."""
    if spec in (None, "", "all"):
        return None
    s = spec.strip().lower()
    if s == "gold":
        return 0
    if s.startswith("gold+") and s[5:].isdigit():
        return int(s[5:])
    raise RagError(f"--corpus-subset {spec!r}: use 'all', 'gold' or 'gold+N' (e.g. gold+300)")


def select_files(gold: list[dict[str, Any]], corpus: Path, subset: Optional[int]) -> list[Path]:
    """The files to index: the whole corpus, or the gold files plus `subset` distractors: the
    first `subset` non-gold files of the corpus's sorted file list shuffled with a fixed seed
    (so editing the gold set leaves the other distractors in place). Result sorted."""
    everything = corpus_files(corpus)
    if subset is None:
        return everything
    chosen = set(gold_paths(gold, corpus))
    shuffled = random.Random(SUBSET_SEED).sample(everything, len(everything))
    extra = [p for p in shuffled if p not in chosen][:subset]
    return sorted(chosen | set(extra))


def resolve(args: argparse.Namespace, gold: list[dict[str, Any]]) -> tuple[Path, list[Path], Path, str, bool]:
    """(corpus folder, files to index, index folder, description of the corpus used, whether
    the index folder is the eval's own cache, kept to exactly the selected files)."""
    relative = uses_relative_paths(gold)
    corpus = Path(args.corpus) if args.corpus else (cc0_corpus() if relative else sample_corpus())
    if not corpus.is_dir():
        raise RagError(f"corpus folder {corpus} not found: pass --corpus DIR")
    corpus = corpus.resolve()
    subset = parse_subset(getattr(args, "corpus_subset", None))
    n_gold = len(gold_paths(gold, corpus))  # every gold file must exist
    files = select_files(gold, corpus, subset)
    if not files:
        raise RagError(f"corpus folder {corpus} holds no transcripts")
    label = "all" if subset is None else f"gold+{subset}"
    desc = f"{corpus} ({len(files)} files: " + ("whole corpus)" if subset is None else
                                                f"{n_gold} gold files + {len(files) - n_gold} distractors, seed {SUBSET_SEED})")
    if args.index:
        index_dir, managed = Path(args.index), False
    elif not relative and subset is None:
        index_dir, managed = Path("index"), False
    else:
        digest = hashlib.sha256(str(corpus).encode()).hexdigest()[:8]
        index_dir, managed = cache_dir() / f"index-{corpus.name}-{digest}-{label}", True
    return corpus, files, index_dir, desc, managed


def open_index(index_dir: Path, files: list[Path], corpus: Path, managed: bool = False):
    """Open the index, building it, upgrading it when an older version wrote it, or adding the files it
    lacks (incremental: unchanged ones are reused). An index the eval manages in its cache also loses files no longer selected; a
    user's index (--index, index/) never loses anything."""
    if managed and (index_dir / "manifest.json").is_file():
        try:   # built by this version, with the backend a new index gets now (the eval measures that one)
            Index.open(index_dir, backend=resolve_backend())
        except IndexStateError as e:  # the eval's own cache: rebuild it rather than give up
            print(f"eval: rebuilding {index_dir}/ ({e})", file=sys.stderr)
            shutil.rmtree(index_dir)
    if (index_dir / "manifest.json").is_file():
        index = Index.open(index_dir)
        if index.outdated:   # the eval measures this version: an older chunker's passages would not be
            print(f"eval: upgrading {index_dir}/ in place ({index.outdated})", file=sys.stderr)
            index.upgrade(progress=False)
        if managed:
            keep = {str(p) for p in files}
            extra = sorted(k for k in indexed_paths(index) if k not in keep)
            if extra:
                print(f"eval: removing {len(extra)} file(s) no longer selected from {index_dir}/", file=sys.stderr)
                index.remove(extra)
        tails = set()  # every trailing part of every indexed path: "a/b/c.md" -> "c.md", "b/c.md", "a/b/c.md"
        for h in indexed_paths(index):
            parts = str(h).replace("\\", "/").split("/")
            tails.update("/".join(parts[i:]) for i in range(len(parts)))
        missing = [p for p in files if rel_name(p, corpus) not in tails]
        if missing:
            print(f"eval: adding {len(missing)} file(s) to {index_dir}/", file=sys.stderr)
            index.add([str(p) for p in missing])
        return index
    print(f"eval: building {index_dir}/ from {len(files)} file(s)", file=sys.stderr)
    return Index.build([str(p) for p in files], path=str(index_dir))


def rel_name(path: Path, corpus: Path) -> str:
    """How gold names a file: its path relative to the corpus folder."""
    return path.relative_to(corpus).as_posix()


def indexed_paths(index) -> set[str]:
    """Every file the index knows (duplicates of another transcript included)."""
    docs = getattr(index, "documents", None)
    if docs:
        return {str(d.get("key") or d.get("path")) for d in docs}
    return {c.path for c in index_chunks(index)}


def gold_doc_ids(index, gold_file: str) -> set[str]:
    """doc_ids of the gold file in the index: a transcript indexed under another (identical)
    file's name keeps that file's path on its chunks, so hits are matched by doc_id too."""
    out = set()
    for d in getattr(index, "documents", None) or []:
        if d.get("doc_id") and (M.file_matches(d.get("key"), gold_file) or M.file_matches(d.get("path"), gold_file)):
            out.add(d["doc_id"])
    return out


def index_chunks(index) -> list:
    chunks = getattr(index, "chunks", None)
    if callable(chunks):
        chunks = chunks()
    return list(chunks or [])


# ----------------------------------------------------------------------------- scoring one item
def _attr(obj, name, default=None):
    return obj.get(name, default) if isinstance(obj, dict) else getattr(obj, name, default)


def from_gold(passage, item: dict[str, Any], doc_ids: set[str]) -> bool:
    """Is the passage (hit, chunk or citation) from the gold briefing?"""
    return (_attr(passage, "doc_id") in doc_ids) or M.file_matches(_attr(passage, "path"), item["file"])


def relevance(hits: list, item: dict[str, Any], doc_ids: set[str]) -> list[bool]:
    return [from_gold(h, item, doc_ids) and M.contains_evidence(item["evidence"], _attr(h, "text")) for h in hits]


def relevant_turns(chunks: list, item: dict[str, Any], doc_ids: set[str]) -> int:
    """Distinct speaker turns in the index holding the evidence (retrieval returns one chunk per turn)."""
    return len({(c.doc_id, c.turn) for c in chunks
                if from_gold(c, item, doc_ids) and M.contains_evidence(item["evidence"], c.text)})


def score_retrieval(hits: list, item: dict[str, Any], doc_ids: set[str], n_relevant: int) -> dict[str, Any]:
    rel = relevance(hits, item, doc_ids)
    first = M.first_relevant(rel, K_RETRIEVE)
    doc = [from_gold(h, item, doc_ids) for h in hits]
    return {
        "hit@1": M.hit_at_k(rel, 1), "hit@5": M.hit_at_k(rel, 5), "hit@10": M.hit_at_k(rel, 10),
        "mrr": M.reciprocal_rank(rel, K_RETRIEVE), "doc_hit@5": M.hit_at_k(doc, 5),
        "ndcg@10": M.ndcg_at_k(rel, K_RETRIEVE, n_relevant),
        "speaker_ok": None if first is None else M.same_speaker(_attr(hits[first], "speaker"), item["speaker"]),
        "relevant_ranks": [i + 1 for i, r in enumerate(rel) if r],
        "n_relevant": n_relevant,
    }


def passage_context(p) -> str:
    """What a citation vouches for: the passage's words plus who said them, where and when."""
    return "\n".join(str(x) for x in (_attr(p, "speaker"), _attr(p, "title"), _attr(p, "date"), _attr(p, "text")) if x)


def score_answer(ans, item: dict[str, Any], lookup: dict[str, Any], doc_ids: set[str]) -> dict[str, Any]:
    """Answer, citation and faithfulness scores of one answered item.

    Faithfulness uses the independent content-word check of rag.metrics (not the answer
    stage's own verifier, which would grade its own work)."""
    text = _attr(ans, "answer") or ""
    passages = {_attr(p, "chunk_id"): p for p in (_attr(ans, "passages") or [])}
    cites, by_n = [], {}
    for c in _attr(ans, "citations") or []:
        p = passages.get(_attr(c, "chunk_id")) or lookup.get(_attr(c, "chunk_id"))
        ptext = _attr(p, "text") if p is not None else None
        matches = (not is_absent(item) and (from_gold(c, item, doc_ids) or (p is not None and from_gold(p, item, doc_ids)))
                   and M.contains_evidence(item["evidence"], ptext))
        ok = M.citation_attribution_ok(_attr(c, "speaker"), _attr(c, "quote"), _attr(p, "speaker") if p is not None else None,
                                       ptext, item["speaker"] or None, matches)
        cites.append({"n": _attr(c, "n"), "relevant": matches, "attribution_ok": ok, "resolved": p is not None})
        if p is not None:
            by_n[_attr(c, "n")] = passage_context(p)
    abstained = bool(_attr(ans, "abstained"))
    out = {"abstained": abstained, "citations": cites,
           "faithfulness": None if abstained else M.faithfulness(text, by_n)}
    if not is_absent(item):
        out["keyword_recall"] = M.keyword_recall(text, item["answer_keywords"])
        out["token_f1"] = M.token_f1(text, item["answer"])
    return out


# ----------------------------------------------------------------------------- summary
def _r(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(x, 4)


def summarize(records: list[dict[str, Any]], answers: bool) -> dict[str, Any]:
    present = [r for r in records if not r["absent"]]
    absent = [r for r in records if r["absent"]]
    retrieval = {}
    for mode in MODES:
        scores = [r["retrieval"][mode] for r in present if mode in r["retrieval"]]
        if not scores:
            continue
        spk = [s["speaker_ok"] for s in scores if s["speaker_ok"] is not None]
        retrieval[mode] = {key: _r(M.mean(s[key] for s in scores))
                           for key in ("hit@1", "hit@5", "hit@10", "mrr", "doc_hit@5", "ndcg@10")}
        retrieval[mode]["speaker_acc"] = _r(M.mean(float(x) for x in spk))
        retrieval[mode]["speaker_n"] = len(spk)
        retrieval[mode]["n"] = len(scores)
    out: dict[str, Any] = {"n_items": len(records), "n_answerable": len(present), "n_absent": len(absent),
                           "retrieval": retrieval}
    if answers:
        scored = [r for r in records if r.get("scores")]
        ps = [r["scores"] for r in scored if not r["absent"]]
        cites = [c for r in scored if not r["absent"] for c in r["scores"]["citations"]]
        all_cites = [c for r in scored for c in r["scores"]["citations"]]
        tp = sum(1 for r in scored if r["absent"] and r["abstained"])
        n_abst = sum(1 for r in scored if r["abstained"])
        prec, rec = M.precision_recall(tp, n_abst, sum(1 for r in scored if r["absent"]))
        out["answers"] = {
            "keyword_recall": _r(M.mean(s["keyword_recall"] for s in ps)),
            "token_f1": _r(M.mean(s["token_f1"] for s in ps)),
            "answered_n": sum(1 for s in ps if not s["abstained"]),
            "keyword_recall_answered": _r(M.mean(s["keyword_recall"] for s in ps if not s["abstained"])),
            "token_f1_answered": _r(M.mean(s["token_f1"] for s in ps if not s["abstained"])),
            "citation_precision": _r(M.mean(float(c["relevant"]) for c in cites)),
            "citations_on_answerable": len(cites),
            "citation_speaker_acc": _r(M.mean(float(c["attribution_ok"]) for c in all_cites)),
            "citations_total": len(all_cites),
            "citations_unresolved": sum(1 for c in all_cites if not c["resolved"]),
            "faithfulness": _r(M.mean(r["scores"]["faithfulness"] for r in scored)),
            "faithfulness_n": sum(1 for r in scored if r["scores"]["faithfulness"] is not None),
            "abstention_precision": _r(prec), "abstention_recall": _r(rec),
            "abstained": n_abst, "abstained_answerable": sum(1 for r in scored if r["abstained"] and not r["absent"]),
        }
        used = [r["model"] for r in scored if r.get("model")]
        out["answers"].update(   # the language model's part: which model, and how much of what it wrote was shown
            model=", ".join(sorted({f"{m['name']} ({m['backend']})" for m in used})) or None,
            model_sentences_read=sum(m["sentences_read"] for m in used),
            model_sentences_shown=sum(m["sentences_shown"] for m in used),
            model_answers_with_summary=sum(1 for m in used if m["sentences_shown"]),
            model_errors=sum(1 for m in used if m.get("error")))
    return out


def latency(records: list[dict[str, Any]]) -> dict[str, Any]:
    lat: dict[str, Any] = {}
    for mode in MODES:
        vals = [r["timings"]["search_s"][mode] for r in records if mode in r["timings"].get("search_s", {})]
        if vals:
            lat[f"search_{mode}_s"] = {"p50": _r(M.percentile(vals, 50)), "p95": _r(M.percentile(vals, 95))}
    for key in ANSWER_TIMINGS:
        vals = [r["timings"][key] for r in records if r["timings"].get(key) is not None]
        if vals:
            lat[f"answer_{key}"] = {"p50": _r(M.percentile(vals, 50)), "p95": _r(M.percentile(vals, 95))}
    return lat


def _fmt(x) -> str:
    return "n/a" if x is None else (f"{x:.3f}" if isinstance(x, float) else str(x))


def to_markdown(summary: dict[str, Any]) -> str:
    lines = [f"Gold: {summary['gold']} ({summary['n_items']} items: {summary['n_answerable']} answerable, "
             f"{summary['n_absent']} absent)  ",
             f"Corpus: {summary['corpus']}  ", f"Index: {summary['index']} ({summary['index_chunks']} chunks)", "",
             "| retrieval | hit@1 | hit@5 | hit@10 | MRR@10 | nDCG@10 | doc hit@5 | speaker acc (n) |",
             "|---|---|---|---|---|---|---|---|"]
    for mode, s in summary["retrieval"].items():
        lines.append(f"| {mode} | {_fmt(s['hit@1'])} | {_fmt(s['hit@5'])} | {_fmt(s['hit@10'])} | {_fmt(s['mrr'])} | "
                     f"{_fmt(s['ndcg@10'])} | {_fmt(s['doc_hit@5'])} | {_fmt(s['speaker_acc'])} ({s['speaker_n']}) |")
    a = summary.get("answers")
    if a:
        lines += ["", f"Answers ({summary['answer_mode']} retrieval, k={K_ANSWER}):", "",
                  "| keyword recall | token F1 | citation precision (n) | citation speaker acc (n) | faithfulness (n) "
                  "| abstention P | abstention R |", "|---|---|---|---|---|---|---|",
                  f"| {_fmt(a['keyword_recall'])} | {_fmt(a['token_f1'])} | {_fmt(a['citation_precision'])} "
                  f"({a['citations_on_answerable']}) | {_fmt(a['citation_speaker_acc'])} ({a['citations_total']}) | "
                  f"{_fmt(a['faithfulness'])} ({a['faithfulness_n']}) | {_fmt(a['abstention_precision'])} | "
                  f"{_fmt(a['abstention_recall'])} |",
                  "", f"On the {a['answered_n']} answerable items not abstained on: keyword recall "
                  f"{_fmt(a['keyword_recall_answered'])}, token F1 {_fmt(a['token_f1_answered'])}.  ",
                  f"Abstained on {a['abstained']} items ({a['abstained_answerable']} answerable); "
                  f"{a['citations_unresolved']} citation(s) pointed at no known passage."]
        if a.get("model"):
            lines += [f"Model {a['model']}: {a['model_sentences_shown']} of {a['model_sentences_read']} sentences it "
                      f"wrote passed the checker and were shown, in {a['model_answers_with_summary']} answers"
                      + (f"; unreachable for {a['model_errors']}" if a["model_errors"] else "") + "."]
    lat = summary.get("latency") or {}
    if lat:
        lines += ["", "| latency (s) | p50 | p95 |", "|---|---|---|"]
        lines += [f"| {k} | {_fmt(v['p50'])} | {_fmt(v['p95'])} |" for k, v in lat.items()]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- run
def evaluate(index, gold: list[dict[str, Any]], mode: str = "hybrid", answers: bool = True,
             progress: bool = True, model: Optional[str] = None) -> list[dict[str, Any]]:
    """Per-item records (see run_cli's --out)."""
    chunks = index_chunks(index)
    records = []
    for item in tqdm(gold, desc="eval", unit="q", disable=not progress, file=sys.stderr):
        rec: dict[str, Any] = {"id": item["id"], "question": item["question"], "absent": is_absent(item),
                               "file": item["file"], "speaker": item["speaker"]}
        timings: dict[str, Any] = {"search_s": {}}
        by_mode, lookup = {}, {}
        for m in MODES:
            t0 = time.perf_counter()
            hits = index.search(item["question"], k=K_RETRIEVE, mode=m)
            timings["search_s"][m] = time.perf_counter() - t0
            by_mode[m] = hits
            lookup.update({h.chunk_id: h for h in hits})
        rec["hits"] = [h.to_dict() for h in by_mode[mode]]
        doc_ids = gold_doc_ids(index, item["file"]) if item["file"] else set()
        if not rec["absent"]:
            n_rel = relevant_turns(chunks, item, doc_ids)
            rec["retrieval"] = {m: score_retrieval(by_mode[m], item, doc_ids, n_rel) for m in MODES}
        else:
            rec["retrieval"] = {}
        if answers:
            ans = index.ask(item["question"], k=K_ANSWER, **({"model": model} if model else {}))
            d = ans.to_dict()
            rec.update(answer=d["answer"], abstained=bool(d["abstained"]), citations=d["citations"], model=d.get("model"))
            timings.update({k: d.get("timings", {}).get(k) for k in ANSWER_TIMINGS})
            rec["scores"] = score_answer(ans, item, lookup, doc_ids)
        else:
            rec.update(answer=None, abstained=None, citations=[])
        rec["timings"] = timings
        records.append(rec)
    return records


def out_paths(out: str) -> tuple[Path, Path, Path]:
    p = Path(out)
    stem = p.with_suffix("") if p.suffix == ".json" else p
    return p, Path(f"{stem}.summary.json"), Path(f"{stem}.summary.md")


def run_cli(args: argparse.Namespace) -> int:
    gold = load_gold(args.gold)
    corpus, files, index_dir, desc, managed = resolve(args, gold)
    print(f"eval: corpus {desc}; index {index_dir}/", file=sys.stderr)
    index = open_index(index_dir, files, corpus, managed)
    answers = not args.no_answers
    records = evaluate(index, gold, mode=args.mode, answers=answers, progress=True, model=getattr(args, "model", None))
    summary = {"gold": str(args.gold), "corpus": desc, "corpus_subset": getattr(args, "corpus_subset", None) or "all",
               "index": str(index_dir), "index_chunks": len(index_chunks(index)), "answer_mode": args.mode,
               "answers_run": answers, **summarize(records, answers), "latency": latency(records)}
    md = to_markdown(summary)
    if args.out:
        p, pj, pm = out_paths(args.out)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        pj.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
        pm.write_text(md, encoding="utf-8")
        print(f"eval: wrote {p}, {pj}, {pm}", file=sys.stderr)
    print(json.dumps(summary, indent=1) if args.json else md)
    return 0
