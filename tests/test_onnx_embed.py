"""ONNX Runtime encoder (rag.encoders.onnx_encoder): exported locally from the bundled MiniLM, fp32 and int8.

Real chunks of the bundled sample, real gold questions, the real model through both paths.
Measured when written (234 sample chunks): int8 cosine to torch min 0.981, mean 0.992;
fp32 cosine > 0.99999; top-5 overlap of dense search over the sample chunks, mean 0.88.
"""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from rag import ingest
from rag.ingest.chunker import Chunker
from rag.encoders.onnx_encoder import OnnxEncoder, export_onnx, length_buckets

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sample_texts(sample_dir):
    ch = Chunker()
    chunks = [c for f in ingest.find_files([sample_dir]) for c in ch.chunk(ingest.read_transcript(f))]
    return [ch.embedding_text(c) for c in chunks]


@pytest.fixture(scope="module")
def questions():
    return [json.loads(line)["question"] for line in (ROOT / "eval" / "gold_sample.jsonl").read_text().splitlines()
            if line.strip()]


@pytest.fixture(scope="module")
def torch_vectors(sample_texts, questions):
    from rag.encoders.embedder import Embedder
    e = Embedder(backend="torch")
    return e.encode(sample_texts), e.encode(questions)


@pytest.fixture(scope="module")
def int8():
    return OnnxEncoder(quantized=True)


def test_fp32_export_matches_torch(sample_texts, torch_vectors):
    v = OnnxEncoder(quantized=False).encode(sample_texts)
    cos = (v * torch_vectors[0]).sum(1)
    assert v.shape == torch_vectors[0].shape and v.dtype == np.float32
    assert cos.min() > 0.9999, cos.min()


def test_int8_close_to_torch_on_real_chunks(int8, sample_texts, torch_vectors):
    v = int8.encode(sample_texts)
    assert len(sample_texts) > 150
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    cos = (v * torch_vectors[0]).sum(1)
    print(f"int8 vs torch cosine over {len(cos)} chunks: min {cos.min():.4f} mean {cos.mean():.4f}")
    assert cos.min() >= 0.95 and cos.mean() >= 0.98


def test_int8_top5_overlap_on_gold_questions(int8, sample_texts, questions, torch_vectors):
    chunks_t, q_t = torch_vectors
    chunks_i, q_i = int8.encode(sample_texts), int8.encode(questions)
    overlap = [len(set(np.argsort(-a)[:5]) & set(np.argsort(-b)[:5])) / 5
               for a, b in zip(q_t @ chunks_t.T, q_i @ chunks_i.T)]
    print(f"top-5 overlap int8 vs torch over {len(overlap)} questions: mean {np.mean(overlap):.3f} min {np.min(overlap):.2f}")
    assert np.mean(overlap) >= 0.75


def test_order_restored_and_duplicates_share_a_vector(int8, sample_texts):
    texts = sample_texts[:40] + sample_texts[:5]        # mixed lengths, some repeated
    v = int8.encode(texts)
    w = int8.encode(list(reversed(texts)))[::-1]       # other input order, other session per text
    np.testing.assert_array_equal(v, w)
    np.testing.assert_array_equal(v[40:], v[:5])
    assert int8.encode("one text").shape == (int8.dim,)
    assert int8.encode([]).shape == (0, int8.dim)


def test_tokenised_once_same_ids_as_the_model_tokenizer(int8, sample_texts):
    ids = int8.tokenize(sample_texts)
    ref = int8.tokenizer(sample_texts, truncation=True, max_length=256)["input_ids"]
    assert ids == ref and max(map(len, ids)) <= 256


def test_length_buckets_cover_every_row_once():
    lengths = [5, 90, 3, 40, 40, 200, 1]
    batches = length_buckets(lengths, 3)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths)


def test_an_int8_vector_depends_on_its_text_alone(int8, sample_texts):
    """int8 scales activations per run: texts are run one at a time (settings.index.onnx_batch), so a vector is
    the same whatever it is encoded with; two cores run two sessions side by side. (In batches of 8 the same
    chunks moved to cosine 0.949.) So an index's vectors do not depend on how its ingest was cut."""
    texts = sample_texts[:96]
    together = int8.encode(texts)
    apart = np.vstack([int8.encode(texts[i:i + 7]) for i in range(0, len(texts), 7)])
    reversed_ = int8.encode(texts[::-1])[::-1]
    assert np.array_equal(together, apart) and np.array_equal(together, reversed_)
    assert np.array_equal(together[:1], int8.encode(texts[0])[None])


def test_export_is_cached_and_leaves_no_temporary_files(int8):
    path = int8.onnx_path
    before = path.stat().st_mtime_ns
    assert export_onnx(quantized=True) == path and path.stat().st_mtime_ns == before
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


def test_folder_without_model_is_a_clear_error(tmp_path):
    from rag.errors import RagError
    with pytest.raises(RagError, match="no config.json"):
        export_onnx(tmp_path, quantized=False)


def test_index_records_its_backend_and_refuses_another(sample_dir, sample_index, tmp_path, questions):
    """int8 is the default; a torch index (as every index before it was) keeps torch and refuses int8."""
    from rag import Index
    from rag.errors import IndexStateError
    assert Index.open(sample_index.path).embedder.backend == "onnx-int8"
    idx = Index.build([sample_dir], path=tmp_path / "torch", backend="torch", progress=False)
    assert idx.manifest["embedding"]["backend"] == "torch"
    with pytest.raises(IndexStateError, match="backend"):
        Index.open(tmp_path / "torch", backend="onnx-int8")
    reopened = Index.open(tmp_path / "torch")                       # follows the manifest
    assert reopened.embedder.backend == "torch"
    overlap = []
    for q in questions[:25]:
        a = {h.chunk_id for h in reopened.search(q, k=5, mode="dense")}
        b = {h.chunk_id for h in sample_index.search(q, k=5, mode="dense")}
        overlap.append(len(a & b) / 5)
    print(f"Index dense top-5 overlap torch vs int8: {np.mean(overlap):.3f}")
    assert np.mean(overlap) >= 0.7


def test_an_onnx_ingest_and_search_never_import_torch(int8, sample_dir, tmp_path):
    """torch (~190 MB resident) is for the torch backend and the one-time export: an int8 ingest (chunker and
    encoder read tokenizer.json with `tokenizers`) and its searches run without it."""
    import subprocess
    import sys
    from reliability_util import env
    code = ("import sys; from rag import Index; "
            f"i = Index.build([{str(sample_dir)!r}], path={str(tmp_path / 'ix')!r}, backend='onnx-int8', progress=False); "
            "assert i.view.embedded == len(i) > 200; "
            "assert i.search('end-of-war declaration', k=3, mode='hybrid'); "
            "print('torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env())
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "False"
