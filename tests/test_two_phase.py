"""Two-phase ingest: every chunk and its BM25 index are committed first (search and answers work at once,
lexically); the vectors follow in checkpoints. Real sample transcripts, the real bundled models.
(A SIGKILL during phase 2 and the resume after it: tests/test_crash_safety.py.)"""
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from rag import Index
from rag.settings import current, replace, use
from reliability_util import run_rag

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "briefings"
QUESTION = "What did the officials say about the end-of-war declaration for the Korean Peninsula?"


@pytest.fixture(scope="module")
def lexical_dir(tmp_path_factory):
    """The sample after phase 1 only (built once; tests copy it before changing anything)."""
    path = tmp_path_factory.mktemp("lexical") / "index"
    r = run_rag("ingest", SAMPLE, "--index", path, "--lexical-only", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["chunks_embedded"] == 0 and report["vectors_pending"] == report["chunks_total"] > 200
    return path


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_phase_one_alone_answers_searches_and_questions(lexical_dir, sample_index):
    index = Index.open(lexical_dir)
    assert index.view.embedded == 0 and len(index.vectors) == 0 and len(index) == len(sample_index)
    m = json.loads((lexical_dir / "manifest.json").read_text())
    assert m["embedded"] == 0 and m["count"] == len(sample_index)
    bm25 = index.search("end-of-war declaration", k=5, mode="bm25")
    assert bm25 and all(not h.dense for h in bm25)
    assert index.search("end-of-war declaration", k=5, mode="dense") == []   # no vectors: nothing to rank
    # hybrid with no vectors is BM25: each row's BM25 rank stands in for its dense rank
    hybrid = index.search("Blinken Russia Ukraine aggression", k=5)
    assert [h.chunk_id for h in hybrid] == [h.chunk_id for h in index.search("Blinken Russia Ukraine aggression",
                                                                              k=5, mode="bm25")]
    ans = index.ask(QUESTION)
    assert not ans.abstained and ans.citations
    assert all(not p.dense for p in ans.passages)
    assert any("end-of-war" in c.quote for c in ans.citations)
    r = run_rag("search", "end-of-war declaration", "--index", lexical_dir)
    assert r.returncode == 0 and "BM25 only (not embedded yet)" in r.stdout


def test_phase_two_fills_the_vectors_and_gives_the_one_phase_results(lexical_dir, sample_index, tmp_path):
    index = Index.open(_copy(lexical_dir, tmp_path / "index"))
    use(replace(current(), index=replace(current().index, checkpoint_chunks=100)))
    generation = index.manifest["generation"]
    assert 0 < index.embed_pending() <= len(index)
    assert index.view.embedded == len(index) and index.manifest["generation"] == generation + 3   # 234 rows / 100
    for q in ["What did Blinken say about Russia and Ukraine?", "North Korea policy review", QUESTION]:
        mine, theirs = index.search(q, k=5), sample_index.search(q, k=5)
        assert [h.chunk_id for h in mine] == [h.chunk_id for h in theirs] and all(h.dense for h in mine)


def test_a_vectors_only_generation_links_the_chunk_and_bm25_files(lexical_dir, tmp_path):
    folder = _copy(lexical_dir, tmp_path / "index")
    index = Index.open(folder)
    use(replace(current(), index=replace(current().index, checkpoint_chunks=120)))
    before = index.manifest["data"]
    index.embed_pending()
    g1 = json.loads((folder / "manifest.json").read_text())
    # each checkpoint: a new name for the same chunk file (a hard link), new vectors; checksums still verify
    assert g1["data"]["chunks"] != before["chunks"]
    assert os.stat(folder / g1["data"]["chunks"]).st_nlink >= 2
    assert g1["checksums"][g1["data"]["chunks"]] == json.loads(
        (lexical_dir / "manifest.json").read_text())["checksums"][before["chunks"]]
    Index.open(folder)   # verifies every checksum


def test_checkpoints_keep_the_graph_and_the_rows_after_it_are_searched_exactly(lexical_dir, tmp_path, monkeypatch):
    """Phase 2 holds only a checkpoint's own rows in memory: a checkpoint links the FAISS file of the one before
    (its rows after the graph's are searched exactly) and the last one grows the graph (here an HNSW graph)."""
    import numpy as np
    from rag.encoders import Embedder
    from rag.indexing import ann
    from rag.retrieval import Filters

    folder = _copy(lexical_dir, tmp_path / "index")
    use(replace(current(), index=replace(current().index, checkpoint_chunks=60, exact_max=100)))
    real, calls = Embedder.encode, []

    def killed_after_three_checkpoints(self, texts, batch_size=None):
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        calls.append(len(texts))
        return real(self, texts, batch_size)
    monkeypatch.setattr(Embedder, "encode", killed_after_three_checkpoints)
    index = Index.open(folder)
    with pytest.raises(KeyboardInterrupt):
        index.embed_pending()
    monkeypatch.setattr(Embedder, "encode", real)

    mid = Index.open(folder)
    m = json.loads((folder / "manifest.json").read_text())
    assert 0 < mid.view.embedded == m["embedded"] == len(mid.vectors) < len(mid)
    assert mid.faiss_index.ntotal == 0                            # phase 1's empty graph, linked by each checkpoint
    assert os.stat(folder / m["data"]["faiss"]).st_nlink >= 2
    query = "end-of-war declaration for the Korean Peninsula"
    qv = mid.embedder.encode_query(query)
    ranked = mid.view.dense.rank(qv, 8, None, None, Filters(), None)
    _, want = ann.exact_search(np.asarray(mid.vectors), qv, 8)
    assert [row for row, _ in ranked] == want[0].tolist()
    assert all(h.dense for h in mid.search(query, k=5, mode="dense"))
    official = mid.search(query, k=3, mode="dense", speaker="official")   # a filter over the exact rows too
    assert len(official) == 3 and all(h.role == "official" for h in official)

    mid.embed_pending()                                           # the resume: the last checkpoint grows the graph
    done = Index.open(folder)
    assert done.view.embedded == len(done) == done.faiss_index.ntotal
    assert ann.is_approximate(done.faiss_index)
    _, exact = ann.exact_search(np.asarray(done.vectors), qv, 5)
    assert [row for row, _ in done.view.dense.rank(qv, 5, None, None, Filters(), None)] == exact[0].tolist()


def test_the_status_line_shows_the_vectors_being_embedded(lexical_dir, tmp_path):
    from ui.background import BackgroundVectors
    from ui.handlers import ChatHandlers
    index = Index.open(_copy(lexical_dir, tmp_path / "index"))
    use(replace(current(), index=replace(current().index, checkpoint_chunks=40)))
    bg = BackgroundVectors(index)
    h = ChatHandlers(index, background=bg)
    assert f"vectors: 0% of {len(index)} passages" in h.status_line()
    seen = set()
    assert bg.ensure()
    deadline = time.monotonic() + 600
    while bg.running() and time.monotonic() < deadline:
        line = h.status_line()
        if "vectors:" in line:
            seen.add(line.split("vectors: ")[1].split("</span>")[0])
        time.sleep(0.05)
    assert not bg.running() and bg.error is None
    assert index.vector_progress.complete and "vector-progress" not in h.status_line()
    # on the way: a share done and the time left, e.g. "51% of 234 passages, about 1 min left (embedding)"
    assert any(0 < int(p.split("%")[0]) < 100 and "min left" in p for p in seen), seen


def test_an_upload_while_embedding_is_added_lexically_and_embedded_by_the_thread(lexical_dir, tmp_path):
    from ui.background import BackgroundVectors
    from ui.handlers import ChatHandlers
    index = Index.open(_copy(lexical_dir, tmp_path / "index"))
    use(replace(current(), index=replace(current().index, checkpoint_chunks=40)))
    bg = BackgroundVectors(index)
    h = ChatHandlers(index, upload_dir=tmp_path / "uploads", background=bg)
    new = tmp_path / "fisheries.txt"
    new.write_text("MODERATOR:  Thanks for joining this call on fisheries.\n\nSENIOR ADMINISTRATION OFFICIAL:  We "
                   "agreed with our partners to close the northern cod fishery for two seasons so that the stock can "
                   "recover.\n", encoding="utf-8")
    assert bg.ensure()
    report, _ = h.add_files([str(new)])
    assert "fisheries.txt" in report
    hit = index.search("northern cod fishery", k=1)[0]
    assert "cod fishery" in hit.text
    deadline = time.monotonic() + 600
    while bg.running() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert index.vector_progress.complete and bg.error is None
    assert index.search("northern cod fishery", k=1)[0].dense


def test_serve_first_start_serves_before_the_vectors_and_embeds_them_behind(tmp_path, capsys):
    from ui.app import open_or_build, warm_up
    from ui.background import BackgroundVectors
    index, status = open_or_build(tmp_path / "index", SAMPLE)     # `rag serve --corpus` on a new folder
    assert "Indexed from" in status and index.view.embedded == 0 and len(index) > 200
    assert index.search("end-of-war declaration", k=1)[0].dense is False    # searchable already
    bg = BackgroundVectors(index)
    warm_up(index, None, bg)                                         # what `rag serve` runs beside the app
    assert "embedding in the background: vectors: 0% of" in capsys.readouterr().err
    deadline = time.monotonic() + 600
    while bg.running() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert index.vector_progress.complete and bg.error is None
    assert Index.open(tmp_path / "index").view.embedded == len(index)   # committed on disk


def test_the_sources_panel_says_when_a_passage_was_found_by_its_words_alone(lexical_dir):
    from ui import render
    index = Index.open(lexical_dir)
    ans = index.ask(QUESTION)
    panel = render.render_answer_sources(ans)
    assert "found by its words (vectors pending)" in panel
    assert "vectors pending" not in render.render_answer_sources(
        type(ans).from_dict({**ans.to_dict(), "passages": [{**p.to_dict(), "dense": True} for p in ans.passages]}))


def test_a_survey_before_the_vectors_uses_the_words_alone(lexical_dir, sample_index):
    """Phase 1 alone: a survey finds the briefings whose officials name every topic word, and the same quotes are
    verbatim; once embedded, a survey finds at least those briefings."""
    lexical = Index.open(lexical_dir).survey("Ukraine")
    assert lexical.statements and not lexical.abstained
    assert all("ukrain" in s.quote.lower() for s in lexical.statements)   # found by its own words only
    full = sample_index.survey("Ukraine")
    assert {s.doc_id for s in lexical.statements} <= {s.doc_id for s in full.statements}
