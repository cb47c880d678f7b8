"""Milvus vector store (rag.indexing.milvus) against Milvus Lite, in process.

Same top-5 as FAISS on the bundled sample's gold questions; filters sent as Milvus expressions
select exactly the chunks the local filters select; insert/delete keep the collection in step.
"""
import json
from pathlib import Path

import faiss
import numpy as np
import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from rag.errors import RagError  # noqa: E402
from rag.indexing.milvus import MilvusVectors, StoreURI, filter_expression, is_store_uri  # noqa: E402
from rag.retrieval import Columns, Filters  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sample(sample_index):
    chunks = list(sample_index.chunks)
    vectors = np.asarray(sample_index.vectors, dtype=np.float32)
    questions = [json.loads(x)["question"] for x in (ROOT / "eval" / "gold_sample.jsonl").read_text().splitlines() if x.strip()]
    return chunks, vectors, questions, sample_index.embedder.encode(questions)


@pytest.fixture(scope="module")
def store(sample, tmp_path_factory):
    chunks, vectors, _, _ = sample
    s = MilvusVectors(str(tmp_path_factory.mktemp("milvus") / "briefings.db"))
    assert s.sync(chunks, vectors) == (len(chunks), 0)
    yield s
    s.close()


def test_store_uris():
    assert is_store_uri("milvus://db.example:19530/briefings") and is_store_uri("/x/b.db") and not is_store_uri("index/")
    u = StoreURI.parse("milvus://db.example/briefings")
    assert (u.uri, u.collection, u.lite) == ("http://db.example:19530", "briefings", False)
    u = StoreURI.parse("milvus+https://alice:s3cret@db.example:443/news_2021")
    assert (u.uri, u.collection, u.token) == ("https://db.example:443", "news_2021", "alice:s3cret")
    u = StoreURI.parse("milvus-lite:///tmp/x/briefings.db#other")
    assert (u.uri, u.collection, u.lite) == ("/tmp/x/briefings.db", "other", True)
    for bad in ("milvus://host/bad-name", "milvus-lite:///tmp/x.txt", "http://host/x"):
        with pytest.raises(RagError):
            StoreURI.parse(bad)


def test_same_top5_as_faiss_on_sample_gold_questions(store, sample):
    chunks, vectors, questions, qv = sample
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    _, ids = flat.search(qv, 5)
    got = store.search(qv, 5)
    assert len(got) == len(questions) >= 20
    same = [[cid for cid, _ in g] == [chunks[i].chunk_id for i in row] for g, row in zip(got, ids)]
    print(f"Milvus Lite top-5 identical to FAISS for {sum(same)}/{len(same)} questions")
    # ties between near-equal float scores may swap neighbours; the sets must match everywhere
    assert all({cid for cid, _ in g} == {chunks[i].chunk_id for i in row} for g, row in zip(got, ids))
    assert np.mean(same) >= 0.95


@pytest.mark.parametrize("f", [
    Filters(speaker="official"), Filters(speaker="questioners"), Filters(speaker="Blinken"),
    Filters(publisher="White House"), Filters(date_from="2021-09-01", date_to="2021-09-30"),
    Filters(speaker="official", publisher="State Department", date_from="2021-01-01"),
    Filters(speaker="nobody by this name"),
])
def test_filters_as_expressions_select_the_same_chunks(store, sample, f):
    chunks, vectors, _, qv = sample
    cols = Columns(chunks)
    allowed = cols.allowed(f)
    expr = filter_expression(cols, f)
    got = store.search(qv[:3], 10, expr=expr)
    want_ids = {chunks[i].chunk_id for i in allowed}
    for g in got:
        assert len(g) == min(10, len(allowed))            # k back whenever k match
        assert {cid for cid, _ in g} <= want_ids
    if len(allowed):
        sel = faiss.IndexFlatIP(vectors.shape[1])
        sel.add(vectors)
        _, ids = sel.search(qv[:3], min(10, len(allowed)), params=faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed)))
        for g, row in zip(got, ids):
            assert {cid for cid, _ in g} == {chunks[i].chunk_id for i in row}
    assert filter_expression(cols, Filters()) is None


def test_sync_inserts_and_deletes(sample, tmp_path):
    chunks, vectors, _, qv = sample
    s = MilvusVectors(f"milvus-lite://{tmp_path}/b.db#sync_test")
    try:
        assert s.sync(chunks[:100], vectors[:100]) == (100, 0) and s.count() == 100
        assert s.sync(chunks[50:150], vectors[50:150]) == (50, 50) and s.count() == 100
        assert s.ids() == {c.chunk_id for c in chunks[50:150]}
        top = s.search(vectors[60], 1)[0][0]
        assert top[0] == chunks[60].chunk_id and top[1] == pytest.approx(1.0, abs=1e-4)
        assert s.sync(chunks[50:150], vectors[50:150]) == (0, 0)     # unchanged: no work
        with pytest.raises(RagError, match="dimensional"):
            s.ensure(128)
    finally:
        s.drop()
        s.close()


def test_index_with_milvus_lite_store_same_results_and_filters(sample_dir, sample_index, sample, tmp_path):
    import shutil
    from rag import Index
    from rag.errors import IndexStateError
    _, _, questions, _ = sample
    corpus = tmp_path / "corpus"
    shutil.copytree(sample_dir, corpus)
    uri = f"milvus-lite://{tmp_path}/vectors.db"
    idx = Index.build([corpus], path=tmp_path / "index", store=uri, progress=False)
    assert idx.manifest["vector_store"] == uri and idx.milvus.count() == len(idx)
    reopened = Index.open(tmp_path / "index")
    assert reopened.milvus is not None
    for q in questions[:20]:
        for mode in ("dense", "hybrid"):
            got = [h.text for h in reopened.search(q, k=5, mode=mode)]
            want = [h.text for h in sample_index.search(q, k=5, mode=mode)]
            assert set(got) == set(want), (q, mode)
    dated = sorted(c.date for c in reopened.chunks if c.date and c.role == "official")
    since = dated[len(dated) // 2]
    for mode in ("dense", "hybrid"):
        hits = reopened.search("vaccines", k=5, mode=mode, speaker="official", date_from=since)
        want = sample_index.search("vaccines", k=5, mode=mode, speaker="official", date_from=since)
        assert len(hits) == 5 and all(h.role == "official" and h.date >= since for h in hits)
        assert {h.text for h in hits} == {h.text for h in want}
    first = sorted(corpus.iterdir())[0]
    reopened.remove([first])
    assert reopened.milvus.count() == len(reopened) and all(h.path != str(first) for h in reopened.search("the", k=10))
    with pytest.raises(IndexStateError, match="store"):
        Index.build([corpus], path=tmp_path / "index", store=f"milvus-lite://{tmp_path}/other.db", progress=False)
