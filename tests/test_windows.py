"""Sentence windows (rag.indexing.windows), opt-in (RAG_WINDOW_SENTENCES=2): the index holds a vector for every two
adjacent sentences of each passage's own words; hybrid search fuses their ranking into the dense one (dense mode does
not); an index that has them keeps them; an update reuses the windows of unchanged passages and drops those of
removed ones; a failure while writing them loses nothing."""
import shutil
from dataclasses import replace

import numpy as np
import pytest

from rag import Index, settings
from rag.errors import IndexStateError
from rag.evaluation import evaluate as E
from rag.indexing.windows import chunk_windows, window_texts
from tests.test_fusion import GOLD, _hit_at_5


@pytest.fixture(scope="module")
def windowed(sample_index, tmp_path_factory):
    """The sample index with windows of two sentences (a copy of the shared one, upgraded in place)."""
    path = tmp_path_factory.mktemp("windowed") / "idx"
    shutil.copytree(sample_index.path, path)
    mp = pytest.MonkeyPatch()
    mp.setenv("RAG_WINDOW_SENTENCES", "2")
    settings.use(None)
    try:
        index = Index.open(path)
        assert index.outdated == "no sentence windows"
        index.upgrade(progress=False)
    finally:
        mp.undo()
        settings.use(None)
    return index


def test_a_new_index_has_no_windows_unless_asked(sample_index):
    assert sample_index.view.windows is None and not sample_index.outdated


def _stored_windows(index):
    w = index.view.windows
    assert w is not None, "the index has no sentence windows"
    return w


def test_every_two_adjacent_sentences_of_an_officials_words_have_a_vector(windowed):
    sample_index = windowed
    w = _stored_windows(sample_index)
    width = sample_index.manifest["windows"]["sentences"]
    texts, owner = chunk_windows(sample_index.chunks, width)
    assert width == 2 and len(w) == len(texts) == len(owner) > len(sample_index.chunks)
    assert np.array_equal(w.rows, owner)
    picks = np.linspace(0, len(texts) - 1, 12).astype(int)
    fresh = sample_index.embedder.encode([texts[i] for i in picks])
    cos = np.sum(fresh * np.asarray(w.matrix[picks]), axis=1)
    assert cos.min() > 0.999, cos
    # only the speaker's words: never the reporter's question or the label
    answered = next(c for c in sample_index.chunks if c.question)
    assert all(t in answered.text for t in window_texts(answered.text, width))


def test_windows_lift_hybrid_on_the_tuning_questions_and_leave_dense_mode_alone(windowed):
    sample_index = windowed
    base = settings.current()
    off = replace(base, retrieval=replace(base.retrieval, window_vote=False))
    with_windows = _hit_at_5(sample_index, "hybrid")
    dense_on = [[h.chunk_id for h in sample_index.search(g["question"], k=5, mode="dense")] for g in GOLD[:20]]
    settings.use(off)
    without = _hit_at_5(sample_index, "hybrid")
    dense_off = [[h.chunk_id for h in sample_index.search(g["question"], k=5, mode="dense")] for g in GOLD[:20]]
    settings.use(None)
    # 0.861 without, 0.903 with (eval/RESULTS.md, "Sentence windows")
    assert with_windows >= 0.89 and with_windows > without, (with_windows, without)
    assert dense_on == dense_off


def _copy(sample_index, tmp_path):   # the windowed index, copied
    shutil.copytree(sample_index.path, tmp_path / "idx")
    return Index.open(tmp_path / "idx")


def test_an_update_reuses_the_windows_of_unchanged_passages_and_drops_removed_ones(windowed, sample_dir, tmp_path,
                                                                                   monkeypatch):
    index = _copy(windowed, tmp_path)   # no RAG_WINDOW_SENTENCES here: the index keeps the windows it has
    before = {c.chunk_id: np.asarray(index.view.windows.matrix[index.view.windows.rows == r])
              for r, c in enumerate(index.chunks)}
    victim = sorted(sample_dir.iterdir())[0]
    encoded = []
    original = type(index.embedder).encode

    def counting(self, texts, batch_size=None):
        encoded.extend(texts)
        return original(self, texts, batch_size)

    monkeypatch.setattr(type(index.embedder), "encode", counting)
    index.remove([victim], progress=False)
    assert encoded == []   # every window of the passages left is reused
    w = _stored_windows(index)
    texts, owner = chunk_windows(index.chunks, 2)
    assert np.array_equal(w.rows, owner) and not any(c.path == str(victim) for c in index.chunks)
    for r, c in enumerate(index.chunks):
        assert np.array_equal(np.asarray(w.matrix[w.rows == r]), before[c.chunk_id])
    index.add([victim], progress=False)
    assert 0 < len(encoded) < len(texts)   # its passages and their windows only
    assert np.array_equal(_stored_windows(index).rows, chunk_windows(index.chunks, 2)[1])
    assert Index.open(tmp_path / "idx").view.windows is not None


def test_a_failure_while_embedding_windows_keeps_the_index_searchable_and_the_next_write_computes_them(
        windowed, tmp_path, monkeypatch):
    index = _copy(windowed, tmp_path)
    generation = index.manifest["generation"]
    index._old_windows = None   # nothing to reuse: every window is embedded again

    def broken(self, texts, batch_size=None):
        raise OSError("the disk is full")

    # an index an older version wrote: every vector, no windows
    m = dict(index.manifest)
    m.pop("windows")
    index._view.manifest = m
    monkeypatch.setattr(type(index.embedder), "encode", broken)
    with pytest.raises((OSError, IndexStateError)):
        index.upgrade(progress=False)
    monkeypatch.undo()
    again = Index.open(tmp_path / "idx")
    assert again.manifest["generation"] == generation and again.view.windows is not None
    assert again.search("North Korea policy review", k=3)
    m = dict(again.manifest)
    m.pop("windows")
    again._view.manifest = m
    again.upgrade(progress=False)   # the next write computes them
    assert again.manifest["generation"] == generation + 1 and again.view.windows is not None
