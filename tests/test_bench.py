"""`rag bench` runs end to end on the bundled sample (small settings) and prints its figures.
It asserts that the figures are printed and sane, never a timing target."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def test_bench_prints_the_figures_and_keeps_the_ingested_index(tmp_path):
    dest = tmp_path / "bench-index"
    out = subprocess.run([sys.executable, "-m", "rag.cli", "bench", "--corpus", str(ROOT / "data" / "briefings"),
                          "--sample", "40", "--queries", "20", "--skip-quality", "--skip-answer",
                          "--ingest-into", str(dest)], capture_output=True, text=True, cwd=ROOT, timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    assert re.search(r"ratio \d+\.\d+x", text)                                  # embedding: ours vs baseline
    assert re.search(r"ingest of 5 files \(onnx-int8\): 5 documents, \d+ chunks", text)
    # both phases, each with its own time and peak memory
    assert re.search(r"Phase 1 \(words, BM25\): \d+ s, peak RSS \d+ MB -> first search possible after \d+ s", text)
    assert re.search(r"Phase 2 \(vectors, [\d,]+ embedded\): \d+ s, peak RSS \d+ MB", text)
    assert re.search(r"hybrid search p50 [\d.]+ ms, p95 [\d.]+ ms", text)       # on the kept index
    recall = [float(x) for x in re.findall(r"recall@10 (?:vs exact|of the index's FAISS search vs exact[^:]*:) ([\d.]+)", text)]
    assert recall and all(r == 1.0 for r in recall)                             # exact search below 50k rows
    from rag import Index
    assert len(Index.open(dest)) > 200
