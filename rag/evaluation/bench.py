"""`rag bench`: performance figures on this machine (prints numbers; never a pass/fail timing test).
Takes a corpus (and optionally an index); gives embedding, search, quality, ingest, answer and scale figures.

    rag bench [--corpus DIR] [--sample 2000] [--queries 200] [--backend onnx-int8]
              [--index DIR | --ingest-into DIR] [--skip-ingest] [--ingest-limit N] [--skip-answer] [--skip-quality]
              [--full-size N] [--synthetic 1000000]
    (also: .venv/bin/python eval/bench.py ...)

Parts (each can be skipped, so a run fits in minutes on 2 cores):
 1. embedding: a fixed sample of ~2,000 real chunks (files in a seeded order, parsed and chunked),
    baseline = sentence-transformers `encode` with default settings; ours = `--backend` (ONNX int8,
    one text per run on a session per core); chunks/s, ratio, cosine to the baseline vectors.
 2. search: >= 200 queries (gold questions + sentences of sample chunks), query embedding included,
    p50/p95; baseline = sentence-transformers query + IndexFlatIP; ours = our encoder +
    rag.indexing.ann.make_faiss_index. At full corpus size: the real index given with --index, else the corpus'
    real chunk count with synthetic vectors (mixtures of the sample's real vectors) - said so in the output.
    recall@10 of the fast index against exact search at that size.
 3. quality: passage hit@5 / document hit@5 on the CC0 gold set (gold files + distractors), torch vs
    our backend, dense and hybrid.
 4. ingest: `rag ingest` of the corpus (or --ingest-limit files) into a temporary folder, in child
    processes, phase by phase: words + BM25 (`--lexical-only`: when the first search is possible), then
    the vectors; wall and peak RSS of each, documents/s, chunks/s.
 5. answers: in a child process serving an index: model load (cold = empty converted-model cache,
    cached), time to first token, tokens/s, total over 10 questions, RSS with the models loaded.
 6. --synthetic N: HNSW over N synthetic 384-dim vectors: build time, memory, p95, recall@10 on 200
    queries against exact top-10 computed in blocks.
 7. model backends: the same 10 questions answered with the bundled SmolLM2 run by transformers (int8),
    natively by llama.cpp, and through llama.cpp's OpenAI-compatible server on loopback (plus a server of
    your own with --llm URL): generation tokens/s, the model's time to its first token (prompt read
    included), and the share of the model's sentences that passed the checker and were shown.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np

from rag import ingest
from rag.encoders import Embedder
from rag.encoders.onnx_encoder import OnnxEncoder
from rag.errors import RagError
from rag.evaluation import bench_worker
from rag.evaluation import evaluate as E
from rag.evaluation.evaluate import is_absent
from rag.evaluation.model_server import LlamaServer
from rag.indexing import ann
from rag.indexing.index import Index
from rag.ingest import Chunker
from rag.llm import llama_backend
from rag.resources import SOURCE_ROOT, cc0_corpus, default_embedding_model_path
from rag.settings import child_environment

ROOT = SOURCE_ROOT
CC0 = cc0_corpus()
SEED = 20211


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", default=None, help="transcripts folder (default: the CC0 corpus if present, else data/briefings)")
    p.add_argument("--sample", type=int, default=2000, help="chunks in the fixed embedding sample (default 2000)")
    p.add_argument("--queries", type=int, default=200, help="search queries timed (default 200)")
    p.add_argument("--backend", default="onnx-int8", choices=["torch", "onnx", "onnx-int8"], help="our embedding backend")
    p.add_argument("--index", default=None, help="an existing index of the whole corpus to time searches and answers on")
    p.add_argument("--full-size", type=int, default=None, help="rows for the full-size search test (default: estimated corpus chunks)")
    p.add_argument("--skip-ingest", action="store_true")
    p.add_argument("--ingest-into", default=None, metavar="DIR",
                   help="ingest the corpus into DIR and keep it there: the search and answer parts then use it "
                        "(one run gives every figure at full corpus size)")
    p.add_argument("--ingest-limit", type=int, default=None, help="ingest only this many files (seeded sample)")
    p.add_argument("--skip-answer", action="store_true")
    p.add_argument("--skip-quality", action="store_true")
    p.add_argument("--quality-distractors", type=int, default=100, help="extra corpus files in the quality index")
    p.add_argument("--synthetic", type=int, default=0, help="also run the approximate index on N synthetic vectors (e.g. 1000000)")
    p.add_argument("--skip-models", action="store_true", help="skip part 7, the model backends")
    p.add_argument("--llm", default=None, metavar="URL", help="part 7 also measures this OpenAI-compatible server")
    p.add_argument("--llm-model", default=None, metavar="NAME", help="the model to ask that server for")


def _say(title: str) -> None:
    print(f"\n== {title}", flush=True)


def _pct(xs, q) -> float:
    return float(np.percentile(np.asarray(xs), q)) if len(xs) else float("nan")


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _files(corpus: Path) -> list[Path]:
    files = sorted(ingest.find_files([corpus]))
    random.Random(SEED).shuffle(files)
    return files


def _encoder(backend: str, model_path: Optional[str] = None):
    if backend == "torch":
        return Embedder(backend="torch")
    return OnnxEncoder(model_path, quantized=backend == "onnx-int8")


# ----------------------------------------------------------------------------- 1. embedding sample
def sample_chunks(files: list[Path], n: int):
    ch, chunks, used = Chunker(), [], 0
    t = time.perf_counter()
    for f in files:
        try:
            chunks += ch.chunk(ingest.read_transcript(f))
        except Exception:
            continue
        used += 1
        if len(chunks) >= n:
            break
    dt = time.perf_counter() - t
    chunks = chunks[:n]
    return chunks, [ch.embedding_text(c) for c in chunks], used, dt


def bench_embedding(texts: list[str], backend: str) -> dict:
    from sentence_transformers import SentenceTransformer   # heavy: the baseline only
    st = SentenceTransformer(str(default_embedding_model_path()), device="cpu")
    st.encode(texts[:8])
    t = time.perf_counter()
    base = st.encode(texts)                    # default settings: batch 32, no normalisation flag
    base_s = time.perf_counter() - t
    base = base / np.linalg.norm(base, axis=1, keepdims=True)
    ours = _encoder(backend)
    ours.encode(texts[:8])
    t = time.perf_counter()
    vecs = ours.encode(texts)
    ours_s = time.perf_counter() - t
    cos = (vecs * base).sum(1)
    r = {"chunks": len(texts), "baseline_chunks_s": len(texts) / base_s, "ours_chunks_s": len(texts) / ours_s,
         "cos_min": float(cos.min()), "cos_mean": float(cos.mean())}
    print(f"baseline sentence-transformers encode (defaults): {r['baseline_chunks_s']:.1f} chunks/s")
    print(f"ours ({backend}, a session per core):       {r['ours_chunks_s']:.1f} chunks/s  "
          f"-> ratio {r['ours_chunks_s'] / r['baseline_chunks_s']:.2f}x")
    print(f"cosine ours vs baseline over {len(texts)} chunks: min {r['cos_min']:.4f}, mean {r['cos_mean']:.4f}")
    return r, st, ours, base.astype(np.float32), vecs


# ----------------------------------------------------------------------------- 2. search
def queries_for(chunks, n: int) -> list[str]:
    qs = []
    for name in ("gold_cc0.jsonl", "gold_sample.jsonl"):
        p = ROOT / "eval" / name
        if p.is_file():
            qs += [json.loads(x)["question"] for x in p.read_text().splitlines() if x.strip()]
    rng = random.Random(SEED)
    pool = [c.text.split(". ")[0][:200] for c in chunks if len(c.text) > 60]
    while len(qs) < n and pool:
        qs.append(pool.pop(rng.randrange(len(pool))))
    return qs[:max(n, len(qs))]


def synthetic_like(real: np.ndarray, n: int, seed: int = 0, block: int = 100_000) -> np.ndarray:
    """n unit vectors, each a random mixture of two real vectors plus a little noise (keeps the
    neighbourhood structure of text embeddings; random points on the sphere have none)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, real.shape[1]), np.float32)
    for s in range(0, n, block):
        m = min(block, n - s)
        a = real[rng.integers(len(real), size=m)] * rng.random((m, 1), dtype=np.float32)
        b = real[rng.integers(len(real), size=m)] * rng.random((m, 1), dtype=np.float32)
        x = a + b + 0.02 * rng.standard_normal((m, real.shape[1]), dtype=np.float32)
        out[s:s + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def time_search(encode, index, queries: list[str], k: int = 10, n: int = 50) -> tuple[list[float], np.ndarray]:
    lat, ids = [], []
    for q in queries:
        t = time.perf_counter()
        v = np.atleast_2d(encode(q)).astype(np.float32)
        _, i = ann.search(index, v, n)
        lat.append(time.perf_counter() - t)
        ids.append(i[0][:k])
    return lat, np.asarray(ids)


def bench_search(st, ours, base_vecs, our_vecs, queries, full_size: int, real_count: bool) -> dict:
    import faiss
    st_encode = lambda q: (lambda v: v / np.linalg.norm(v))(st.encode([q])[0])   # noqa: E731
    out = {}
    sizes = (("sample", len(our_vecs)),) if full_size is None else (("sample", len(our_vecs)), ("full", full_size))
    for label, size in sizes:
        if label == "full":
            t = time.perf_counter()
            base_rows = synthetic_like(base_vecs, size, seed=1)
            ours_rows = synthetic_like(our_vecs, size, seed=1)   # same mixtures of our vectors
            print(f"full size: {size:,} rows ({'estimated corpus chunk count' if real_count else 'given'}), synthetic "
                  f"vectors = mixtures of the sample's real vectors ({time.perf_counter() - t:.1f} s to make)")
        else:
            base_rows, ours_rows = base_vecs, our_vecs
        flat = faiss.IndexFlatIP(base_rows.shape[1])
        flat.add(base_rows)
        t = time.perf_counter()
        fast = ann.make_faiss_index(ours_rows)
        build = time.perf_counter() - t
        for q in queries[:5]:   # warm-up: first calls allocate buffers
            st_encode(q), ours.encode(q)
        b_lat, _ = time_search(st_encode, flat, queries)
        o_lat, o_ids = time_search(ours.encode, fast, queries)
        qv = np.stack([ours.encode(q) for q in queries])
        _, exact = ann.exact_search(ours_rows, qv, 10)
        recall = ann.recall_at_k(o_ids, exact, 10)
        kind = type(faiss.downcast_index(fast)).__name__
        r = {"rows": len(ours_rows), "index": kind, "build_s": build, "baseline_p50_ms": 1000 * _pct(b_lat, 50),
             "baseline_p95_ms": 1000 * _pct(b_lat, 95), "ours_p50_ms": 1000 * _pct(o_lat, 50),
             "ours_p95_ms": 1000 * _pct(o_lat, 95), "recall@10": recall}
        print(f"[{label}: {r['rows']:,} rows] baseline (ST query + IndexFlatIP): p50 {r['baseline_p50_ms']:.1f} ms, "
              f"p95 {r['baseline_p95_ms']:.1f} ms | ours ({kind}, built in {build:.1f} s): p50 {r['ours_p50_ms']:.1f} ms, "
              f"p95 {r['ours_p95_ms']:.1f} ms | p95 ratio ours/baseline {r['ours_p95_ms'] / r['baseline_p95_ms']:.2f} | "
              f"recall@10 vs exact {recall:.4f} ({len(queries)} queries, query embedding included)")
        out[label] = r
        del flat, fast
    return out


def bench_index_search(index_dir: str, queries: list[str], st=None) -> dict:
    """Search latency on a real index (dense and hybrid, query embedding included), recall@10 of its FAISS
    search against exact search over its vectors, and (with `st`) the baseline at the same size:
    sentence-transformers query embedding + IndexFlatIP over the same vectors."""
    import faiss
    idx = Index.open(index_dir)
    idx.search(queries[0])
    out = {"rows": len(idx)}
    if st is not None:
        flat = faiss.IndexFlatIP(idx.vectors.shape[1])
        flat.add(np.ascontiguousarray(idx.vectors, dtype=np.float32))
        st_encode = lambda q: (lambda v: v / np.linalg.norm(v))(st.encode([q])[0])   # noqa: E731
        for q in queries[:5]:
            st_encode(q)
        lat, _ = time_search(st_encode, flat, queries)
        out["baseline"] = (1000 * _pct(lat, 50), 1000 * _pct(lat, 95))
        print(f"baseline at {len(idx):,} rows (ST query + IndexFlatIP over the same vectors): p50 {out['baseline'][0]:.1f} ms, "
              f"p95 {out['baseline'][1]:.1f} ms over {len(queries)} queries")
        del flat
    for mode in ("dense", "hybrid"):
        lat = []
        for q in queries:
            t = time.perf_counter()
            idx.search(q, k=5, mode=mode)
            lat.append(time.perf_counter() - t)
        out[mode] = (1000 * _pct(lat, 50), 1000 * _pct(lat, 95))
        print(f"index {index_dir} ({len(idx):,} chunks, {type(idx.faiss_index).__name__}): "
              f"{mode} search p50 {out[mode][0]:.1f} ms, p95 {out[mode][1]:.1f} ms over {len(queries)} queries"
              + (f" | p95 ratio ours/baseline {out[mode][1] / out['baseline'][1]:.2f}" if "baseline" in out else ""))
    vecs = np.asarray(idx.vectors, dtype=np.float32)
    qv = idx.embedder.encode(queries)
    exact_scores, exact = ann.exact_search(vecs, qv, 10)
    _, got = ann.search(idx.faiss_index, qv, 10)
    out["recall@10"] = ann.recall_at_k(got, exact, 10)
    out["recall@10_ties"] = ann.recall_at_k_ties(got, exact_scores, vecs, qv, 10)
    print(f"recall@10 of the index's FAISS search vs exact over the real vectors: {out['recall@10']:.4f} by row id; "
          f"{out['recall@10_ties']:.4f} counting rows that score as high as the exact 10th (the same words "
          f"indexed twice have equal scores, and exact search lists an arbitrary copy)")
    return out


# ----------------------------------------------------------------------------- 3. quality
def bench_quality(corpus: Path, backend: str, distractors: int) -> Optional[dict]:
    gold_path = ROOT / "eval" / "gold_cc0.jsonl"
    if not gold_path.is_file() or "backend" not in inspect.signature(Index.build).parameters:
        print("skipped: needs eval/gold_cc0.jsonl and Index.build(..., backend=)")
        return None
    gold = [g for g in E.load_gold(gold_path) if not E.is_absent(g)]
    try:
        files = E.select_files(gold, corpus, distractors)
    except Exception as e:
        print(f"skipped: {e}")
        return None
    out = {}
    with tempfile.TemporaryDirectory(prefix="rag-bench-q-") as tmp:
        for b in ("torch", backend):
            t = time.perf_counter()
            idx = Index.build([str(f) for f in files], path=Path(tmp) / b, backend=b, progress=False)
            build = time.perf_counter() - t
            for mode in ("dense", "hybrid"):
                hit, doc = [], []
                for item in gold:
                    hits = idx.search(item["question"], k=5, mode=mode)
                    ids = E.gold_doc_ids(idx, item["file"])
                    hit.append(any(E.relevance(hits, item, ids)))
                    doc.append(any(E.from_gold(h, item, ids) for h in hits))
                out[(b, mode)] = (100 * np.mean(hit), 100 * np.mean(doc))
            print(f"{b:10s} ({len(files)} files, {len(idx):,} chunks, built in {build:.0f} s): " + ", ".join(
                f"{m} passage hit@5 {out[(b, m)][0]:.1f}%, doc hit@5 {out[(b, m)][1]:.1f}%" for m in ("dense", "hybrid")))
    for m in ("dense", "hybrid"):
        print(f"{m}: passage hit@5 {backend} - torch = {out[(backend, m)][0] - out[('torch', m)][0]:+.1f} points "
              f"over {len(gold)} answerable gold questions")
    return {f"{b}/{m}": v for (b, m), v in out.items()}


# ----------------------------------------------------------------------------- 4. ingest
def _measured(cmd: list[str], env: dict) -> tuple[int, str, str, float, float]:
    """Run `cmd`; (exit code, stdout, stderr, wall seconds, that process's own peak RSS in MB)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read().decode(), err.read().decode(errors="replace"), wall, usage.ru_maxrss / 1024


def bench_ingest(files: list[Path], backend: str, dest: Optional[str] = None) -> dict:
    """The two phases of `rag ingest` in child processes: words (`--lexical-only`: the first search is possible
    when it ends), then vectors (a second `rag ingest` finishing the job); wall time and peak RSS of each."""
    with tempfile.TemporaryDirectory(prefix="rag-bench-ingest-") as tmp:
        base = [sys.executable, "-m", "rag.cli", "ingest", *map(str, files), "--index", dest or str(Path(tmp) / "index"),
                "--json"]
        env = child_environment(RAG_EMBED_BACKEND=backend)
        code1, out1, err1, wall1, peak1 = _measured(base + ["--lexical-only"], env)
        code2, out2, err2, wall2, peak2 = _measured(base, env) if code1 in (0, 1) else (code1, "", "", 0.0, 0.0)
        try:
            rep, rep2 = json.loads(out1), json.loads(out2)
        except json.JSONDecodeError:
            rep = rep2 = {}
        if not rep or not rep2:   # exit 1 with a report only means some files were skipped (listed on stderr)
            print(f"ingest failed ({code1}, {code2}): {(err2 or err1)[-2000:]}")
            return {}
        if rep.get("skipped"):
            first = rep["skipped"][0]
            print(f"ingest skipped {len(rep['skipped'])} file(s), e.g. {first.get('path')}: {first.get('reason')}")
        docs = rep.get("documents_total") or len(files)
        chunks = rep.get("chunks_total") or 0
        wall = wall1 + wall2
        r = {"files": len(files), "documents": docs, "chunks": chunks, "wall_s": wall, "first_search_s": wall1,
             "vectors_s": wall2, "embedded": rep2.get("chunks_embedded", 0), "docs_s": docs / wall,
             "chunks_s": chunks / wall, "peak_rss_mb": max(peak1, peak2), "phase1_peak_rss_mb": peak1,
             "phase2_peak_rss_mb": peak2}
        print(f"ingest of {len(files)} files ({backend}): {docs} documents, {chunks:,} chunks. Phase 1 (words, BM25): "
              f"{wall1:.0f} s, peak RSS {peak1:.0f} MB -> first search possible after {wall1:.0f} s. Phase 2 (vectors, "
              f"{r['embedded']:,} embedded): {wall2:.0f} s, peak RSS {peak2:.0f} MB. All vectors after {wall:.0f} s "
              f"({r['chunks_s']:.1f} chunks/s overall)")
        return r


# ----------------------------------------------------------------------------- 5. answers (child process)


def _load_time(cache: Optional[str]) -> float:
    env = child_environment(**({"BRIEFING_RAG_CACHE": cache} if cache else {}))
    p = subprocess.run([sys.executable, "-m", bench_worker.__name__, "load"], capture_output=True, text=True, env=env,
                       cwd=ROOT)
    return float(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else float("nan")


def bench_answers(index_dir: str, questions: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="rag-bench-cold-") as cold:
        cold_s = _load_time(cold)
    cached_s = _load_time(None)
    print(f"model load: cold (empty converted-model cache, GGUF converted) {cold_s:.1f} s, cached {cached_s:.1f} s")
    p = subprocess.run([sys.executable, "-m", bench_worker.__name__, "answers", index_dir, json.dumps(questions)],
                       capture_output=True, text=True, cwd=ROOT, env=child_environment())
    if p.returncode != 0:
        print(f"answer worker failed: {p.stderr[-2000:]}")
        return {"load_cold_s": cold_s, "load_cached_s": cached_s}
    w = json.loads(p.stdout.strip().splitlines()[-1])
    first = [r["first_token_s"] for r in w["rows"] if r["first_token_s"] is not None]
    model_first = [r["model_first_token_s"] for r in w["rows"] if r.get("model_first_token_s") is not None]
    total = [r["total_s"] for r in w["rows"]]
    r = {"load_cold_s": cold_s, "load_cached_s": cached_s, "first_token_p50_s": _pct(first, 50),
         "first_token_max_s": max(first) if first else float("nan"),
         "model_first_token_p50_s": _pct(model_first, 50) if model_first else float("nan"),
         "model_first_token_max_s": max(model_first) if model_first else float("nan"), "total_p50_s": _pct(total, 50),
         "total_max_s": max(total), "tokens_s": w["tokens"] / w["gen_s"], "abstained": sum(x["abstained"] for x in w["rows"]),
         "serving_rss_mb": w["rss_mb"], "serving_peak_mb": w["hwm_mb"]}
    print(f"{len(total)} questions on {index_dir} ({w['chunks']:,} chunks): first answer token (the checked digest, or "
          f"the abstention) p50 {r['first_token_p50_s']:.2f} s (max {r['first_token_max_s']:.2f}); first model token p50 "
          f"{r['model_first_token_p50_s']:.2f} s (max {r['model_first_token_max_s']:.2f}); total p50 {r['total_p50_s']:.2f} s "
          f"(max {r['total_max_s']:.2f}), "
          f"{r['abstained']} abstained; generation {r['tokens_s']:.1f} tokens/s")
    print(f"serving RSS with index + embedding model + LLM loaded: {r['serving_rss_mb']:.0f} MB (peak {r['serving_peak_mb']:.0f} MB)")
    return r


# ----------------------------------------------------------------------------- 7. model backends


def _answer_worker(index_dir: str, questions: list[str], **env: str) -> Optional[dict]:
    p = subprocess.run([sys.executable, "-m", bench_worker.__name__, "answers", index_dir, json.dumps(questions)],
                       capture_output=True, text=True, cwd=ROOT, env=child_environment(**env))
    if p.returncode != 0:
        print(f"answer worker failed: {p.stderr[-1500:]}")
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def bench_models(index_dir: str, questions: list[str], llm_url: Optional[str] = None,
                 llm_model: Optional[str] = None) -> dict:
    """Part 7: one child process per way of running the model, the same questions for each."""
    plain = {"RAG_LLM_URL": "", "RAG_LLM_MODEL": ""}
    runs: list[tuple[str, dict]] = [("transformers-int8", {**plain, "RAG_GGUF_RUNTIME": "transformers", "RAG_LLM_INT8": "1"})]
    server = None
    if llama_backend.available():
        runs.append(("llama.cpp native GGUF", {**plain, "RAG_GGUF_RUNTIME": "llama"}))
        server = LlamaServer()
        try:
            url = server.start()
            runs.append((f"llama.cpp server ({url})", {"RAG_LLM_URL": url, "RAG_LLM_MODEL": server.alias}))
        except RagError as e:
            print(f"(llama.cpp server not measured: {e})")
            server = None
    else:
        print("(llama-cpp-python not installed: the native GGUF and server paths are not measured; make llama)")
    if llm_url:
        runs.append((f"your server ({llm_url})", {"RAG_LLM_URL": llm_url, "RAG_LLM_MODEL": llm_model or ""}))
    out = {}
    try:
        for name, env in runs:
            w = _answer_worker(index_dir, questions, **env)
            if not w:
                continue
            used = [r["model"] for r in w["rows"] if r.get("model")]
            read = sum(m["sentences_read"] for m in used)
            shown = sum(m["sentences_shown"] for m in used)
            errors = sum(1 for m in used if m.get("error"))
            ttft = [r["model_ttft_s"] for r in w["rows"] if r.get("model_ttft_s") is not None]
            r = {"backend": w["backend"], "model": w["model"], "tokens_s": w["tokens"] / w["gen_s"],
                 "model_ttft_p50_s": _pct(ttft, 50) if ttft else float("nan"),
                 "model_ttft_max_s": max(ttft) if ttft else float("nan"),
                 "answered": len(used), "sentences_read": read, "sentences_shown": shown,
                 "shown_share": shown / read if read else float("nan"), "model_errors": errors,
                 "total_p50_s": _pct([x["total_s"] for x in w["rows"]], 50), "serving_rss_mb": w["rss_mb"]}
            out[name] = r
            print(f"{name}: {r['tokens_s']:.1f} tokens/s; model's first token p50 {r['model_ttft_p50_s']:.2f} s "
                  f"(max {r['model_ttft_max_s']:.2f}); model sentences shown {shown} of {read} "
                  f"({100 * r['shown_share']:.0f}%) over {len(used)} answers; answer total p50 {r['total_p50_s']:.2f} s; "
                  f"RSS {r['serving_rss_mb']:.0f} MB" + (f"; {errors} answers without the model (unreachable)" if errors else ""))
    finally:
        if server:
            server.stop()
    return out


# ----------------------------------------------------------------------------- 6. synthetic scale
def bench_synthetic(real: np.ndarray, n: int, encode, queries: list[str]) -> dict:
    before = _rss_mb()
    t = time.perf_counter()
    x = synthetic_like(real, n, seed=2)
    made = time.perf_counter() - t
    t = time.perf_counter()
    index = ann.make_faiss_index(x)
    build = time.perf_counter() - t
    mem = _rss_mb() - before
    qs = queries[:200]
    lat, got = time_search(encode, index, qs)
    qv = np.stack([encode(q) for q in qs]).astype(np.float32)
    _, exact = ann.exact_search(x, qv, 10)
    recall = ann.recall_at_k(got, exact, 10)
    r = {"rows": n, "build_s": build, "mem_mb": mem, "p50_ms": 1000 * _pct(lat, 50), "p95_ms": 1000 * _pct(lat, 95),
         "recall@10": recall}
    print(f"synthetic {n:,} x {x.shape[1]} (made in {made:.0f} s): HNSW build {build:.0f} s, vectors+graph ~{mem:.0f} MB RSS, "
          f"search p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms (query embedding included), "
          f"recall@10 vs exact {recall:.4f} over {len(qs)} queries")
    return r


# ----------------------------------------------------------------------------- driver
def run_cli(args: argparse.Namespace) -> int:
    corpus = Path(args.corpus) if args.corpus else (CC0 if CC0.is_dir() else ROOT / "data" / "briefings")
    files = _files(corpus)
    cpus = os.cpu_count()
    print(f"rag bench: corpus {corpus} ({len(files)} files), {cpus} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} at start (other processes share these cores), our backend {args.backend}")
    results: dict = {}

    _say("1. embedding throughput (fixed sample)")
    chunks, texts, used, parse_s = sample_chunks(files, args.sample)
    per_doc = len(chunks) / max(1, used)
    print(f"sample: {len(chunks)} chunks from {used} files (parsed and chunked in {parse_s:.1f} s); "
          f"{per_doc:.1f} chunks/file -> ~{per_doc * len(files):,.0f} chunks estimated for the corpus")
    results["embedding"], st, ours, base_vecs, our_vecs = bench_embedding(texts, args.backend)

    chosen = files[:args.ingest_limit] if args.ingest_limit else files
    if args.ingest_into and not args.skip_ingest:
        _say("4. ingest (first: the later parts use this index)")
        results["ingest"] = bench_ingest(chosen, args.backend, args.ingest_into)
        if not results["ingest"]:
            print(f"rag bench: stopped: the ingest into {args.ingest_into} failed (above); "
                  f"the index there, if any, is as it was", file=sys.stderr)
            return 1
        args.index = args.index or args.ingest_into

    _say("2. search latency and fast-vs-exact recall")
    queries = queries_for(chunks, args.queries)
    # at full size: the real index when given (--index / --ingest-into), else synthetic vectors of the corpus' size
    full = None if args.index and not args.full_size else (args.full_size or int(per_doc * len(files)))
    results["search"] = bench_search(st, ours, base_vecs, our_vecs, queries, full, args.full_size is None)
    if args.index:
        results["index_search"] = bench_index_search(args.index, queries, st)

    if not args.skip_quality:
        _say("3. retrieval quality: torch vs our backend")
        results["quality"] = bench_quality(corpus, args.backend, args.quality_distractors)

    if not args.skip_ingest and not args.ingest_into:
        _say("4. ingest")
        results["ingest"] = bench_ingest(chosen, args.backend)

    if not args.skip_answer:
        _say("5. answer latency and serving memory")
        index_dir = args.index
        tmp = None
        if not index_dir:
            tmp = tempfile.mkdtemp(prefix="rag-bench-serve-")
            Index.build([str(ROOT / "data" / "briefings")], path=Path(tmp) / "index", progress=False)
            index_dir = str(Path(tmp) / "index")
            print(f"(no --index: answering over the bundled sample indexed in {index_dir})")
        # questions about what the served index holds: the CC0 gold set over a corpus index, else the sample's
        gold = ROOT / "eval" / ("gold_cc0.jsonl" if args.index and corpus == CC0 else "gold_sample.jsonl")
        items = [json.loads(x) for x in gold.read_text().splitlines() if x.strip()]
        qs = [g["question"] for g in items if not is_absent(g)]
        print(f"questions: the first 10 answerable ones of {gold.name}")
        try:
            results["answers"] = bench_answers(index_dir, qs[:10])
            if not args.skip_models:
                _say("7. model backends: the same 10 questions, three ways of running the model")
                results["models"] = bench_models(index_dir, qs[:10], args.llm, args.llm_model)
        finally:
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)

    if args.synthetic:
        _say(f"6. approximate index at {args.synthetic:,} synthetic vectors")
        results["synthetic"] = bench_synthetic(our_vecs, args.synthetic, ours.encode, queries)
    print(f"\nload average at end {os.getloadavg()[0]:.1f}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return run_cli(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
