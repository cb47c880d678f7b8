#!/usr/bin/env python3
"""How many texts per ONNX run: speed and memory of the int8 (or fp32) encoder by batch size, on real chunks.

    .venv/bin/python eval/onnx_batch_probe.py [--corpus DIR] [--texts 2560] [--batches 1,8]

Each batch size runs in a fresh process (ONNX Runtime's memory arena keeps its largest buffers for the life of
the session) with one single-threaded session per core side by side, and prints chunks/s, the memory the encoding
added to the loaded model, and the cosine of its vectors to the torch ones (int8 scales activations per batch, so
above 1 a text's vector depends a little on its batch).
Calibrates settings.index.onnx_batch (eval/RESULTS.md, "Phase 2 in 1.3 GB"). Run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CC0 = ROOT.parent / "shared" / "corpus" / "wh-briefings"

CHILD = r"""
import json, sys, time, numpy as np
from rag.encoders.onnx_encoder import OnnxEncoder
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS'):
            return int(line.split()[1]) / 1024
texts = json.load(open(sys.argv[1])); batch = int(sys.argv[2]); quantized = sys.argv[3] == 'int8'
e = OnnxEncoder(None, quantized=quantized, batch_size=batch)
e.encode(['warm up']); base = rss(); peak = base
t = time.perf_counter(); out = []
for i in range(0, len(texts), 512):
    out.append(e.encode(texts[i:i + 512])); peak = max(peak, rss())
dt = time.perf_counter() - t
np.save(sys.argv[4], np.vstack(out))
print(json.dumps({"batch": batch, "chunks_s": len(texts) / dt, "added_mb": peak - base}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=str(CC0 if CC0.is_dir() else ROOT / "data" / "briefings"))
    ap.add_argument("--texts", type=int, default=2560)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--fp32", action="store_true", help="the fp32 ONNX model instead of int8")
    args = ap.parse_args()
    import numpy as np
    from rag import ingest
    from rag.encoders import Embedder
    from rag.ingest import Chunker
    from rag.settings import offline_environment
    offline_environment()
    chunker, texts = Chunker(), []
    for f in sorted(ingest.find_files([args.corpus]))[::7]:
        texts += [chunker.embedding_text(c) for c in chunker.chunk(ingest.read_transcript(f))]
        if len(texts) >= args.texts:
            break
    texts = texts[:args.texts]
    reference = Embedder(backend="torch").encode(texts[:800])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "texts.json"
        path.write_text(json.dumps(texts))
        print(f"{len(texts)} chunks from {args.corpus}; {'fp32' if args.fp32 else 'int8'}; cosine to torch over 800")
        for batch in (int(b) for b in args.batches.split(",")):
            out = Path(tmp) / f"v{batch}.npy"
            r = subprocess.run([sys.executable, "-c", CHILD, str(path), str(batch), "fp32" if args.fp32 else "int8",
                                str(out)], capture_output=True, text=True, cwd=ROOT)
            if r.returncode:
                print(f"batch {batch}: failed: {r.stderr[-500:]}")
                continue
            m = json.loads(r.stdout.strip().splitlines()[-1])
            cos = (np.load(out)[:800] * reference).sum(1)
            print(f"batch {batch:3d}: {m['chunks_s']:6.1f} chunks/s, +{m['added_mb']:.0f} MB while encoding; "
                  f"cosine to torch mean {cos.mean():.4f}, min {cos.min():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
