"""Benchmark: parse + chunk a whole corpus (no embedding). Prints files/s and chunks/s.

    .venv/bin/python eval/bench_ingest.py [CORPUS_DIR] [--limit N]

CORPUS_DIR defaults to ../shared/corpus/wh-briefings relative to the repository.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rag.ingest.chunker import CHUNKER_VERSION, Chunker  # noqa: E402
from rag.errors import InputError  # noqa: E402
from rag.ingest import find_files, read_transcript  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", nargs="?", default=str(ROOT.parent / "shared" / "corpus" / "wh-briefings"))
    ap.add_argument("--limit", type=int, default=0, help="only the first N files")
    args = ap.parse_args()
    if not Path(args.corpus).is_dir():
        print(f"corpus folder not found: {args.corpus}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    chunker = Chunker()
    load_s = time.perf_counter() - t0
    files = find_files([args.corpus])
    if args.limit:
        files = files[: args.limit]
    parse_s = chunk_s = 0.0
    n_chunks, n_errors, size = 0, 0, 0
    roles, parts = Counter(), Counter()
    cpu0 = time.process_time()
    for f in files:
        a = time.perf_counter()
        try:
            t = read_transcript(f)
        except InputError as e:
            n_errors += 1
            print(f"skipped {e}", file=sys.stderr)
            continue
        b = time.perf_counter()
        chunks = chunker.chunk(t)
        c = time.perf_counter()
        parse_s += b - a
        chunk_s += c - b
        n_chunks += len(chunks)
        size += f.stat().st_size
        roles.update(x.role for x in chunks)
        parts.update(x.parts for x in chunks if x.part == 0)
    total = parse_s + chunk_s
    cpu = time.process_time() - cpu0
    print(f"corpus: {args.corpus}  (chunker version {CHUNKER_VERSION}, tokenizer load {load_s:.1f} s)")
    print(f"files: {len(files)} ({size / 1e6:.1f} MB), skipped: {n_errors}, chunks: {n_chunks}")
    print(f"parse: {parse_s:.1f} s, chunk: {chunk_s:.1f} s, total: {total:.1f} s wall, {cpu:.1f} s CPU")
    print(f"files/s: {len(files) / total:.1f}   chunks/s: {n_chunks / total:.1f}   "
          f"(CPU-time based: {len(files) / cpu:.1f} files/s, {n_chunks / cpu:.1f} chunks/s)")
    print(f"chunks by role: {dict(roles.most_common())}")
    print(f"turns split into N chunks: {dict(sorted(parts.items())[:8])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
