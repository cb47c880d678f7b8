"""The index folder: incremental add/remove, zero re-embedding, safe formats, version checks, checksums, lock."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag import Index, settings
from rag.errors import IndexStateError
from rag.indexing.store import Store
from rag.lexicon import words

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "briefings"
F004 = "004_e77c5bc27b68646e.txt"


def run_cli(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-c", "import sys; from rag.cli import main; sys.exit(main())", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})


@pytest.fixture
def index_copy(sample_index, tmp_path) -> Path:
    """A private copy of the session's sample index folder (cheap: no embedding)."""
    dst = tmp_path / "index"
    shutil.copytree(sample_index.path, dst)
    return dst


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def _write_manifest(folder: Path, m: dict) -> None:
    (folder / "manifest.json").write_text(json.dumps(m), encoding="utf-8")


def test_manifest_records_model_chunker_documents_and_checksums(sample_index):
    from rag.ingest.chunker import CHUNKER_VERSION
    m = _manifest(sample_index.path)
    assert m["embedding"] == {"name": "sentence-transformers/all-MiniLM-L6-v2", "dim": 384, "backend": "onnx-int8"}
    assert m["chunker"]["version"] == CHUNKER_VERSION
    assert len(m["files"]) == 5 and m["count"] == len(sample_index) > 100
    for entry in m["files"].values():
        assert entry["doc_id"] and entry["fingerprint"] and entry["chunk_ids"]
    assert sum(len(e["chunk_ids"]) for e in m["files"].values()) == len(sample_index)
    names = {p.name for p in sample_index.path.iterdir()}
    for rel in m["checksums"]:
        assert (sample_index.path / rel).is_file()
    assert set(m["data"].values()) <= names
    vectors = np.load(sample_index.path / m["data"]["vectors"], allow_pickle=False)
    assert vectors.dtype == np.float32 and vectors.shape == (len(sample_index), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_no_pickled_files(sample_index):
    for p in sample_index.path.rglob("*"):
        if p.is_file():
            assert p.suffix in {".json", ".jsonl", ".npy", ".index", ""}, p
            if p.suffix == ".npy":
                np.load(p, allow_pickle=False)  # raises if the array needs unpickling
            assert b"\x80\x04\x95" not in p.read_bytes()[:64] and b"\x80\x05\x95" not in p.read_bytes()[:64]


def test_reingesting_unchanged_files_embeds_nothing(index_copy):
    index = Index.open(index_copy)
    before = _manifest(index_copy)
    report = index.add([SAMPLE])
    assert report.unchanged == 5 and not report.added and not report.updated and not report.removed
    assert report.chunks_embedded == 0
    assert index.embedder.texts_embedded == 0          # the counter: zero texts through the model
    assert index.embedder._model is None                # the model was not even loaded
    assert _manifest(index_copy)["generation"] == before["generation"]  # nothing rewritten


def test_incremental_add_change_duplicate_remove(index_copy, tmp_path):
    index = Index.open(index_copy)
    n = len(index)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    copy = corpus / "copy_of_004.txt"
    shutil.copy(SAMPLE / F004, copy)

    # The same transcript under another name: recorded as a duplicate, not indexed twice.
    r = index.add([corpus])
    assert [Path(p).name for p, _ in r.duplicates] == ["copy_of_004.txt"] and r.chunks_embedded == 0
    assert len(index) == n

    # Removing the original: the copy takes over its chunks (vectors reused, nothing embedded).
    r = index.remove([SAMPLE / F004])
    assert [Path(p).name for p in r.removed] == [F004] and r.chunks_embedded == 0
    assert len(index) == n
    hits = index.search("short-range launch by North Korea last weekend", k=3)
    assert Path(hits[0].path) == copy

    # A changed file: its old chunks go, only chunks whose text changed are embedded.
    text = copy.read_text(encoding="utf-8")
    assert "in the category of normal activity" in text
    copy.write_text(text.replace("in the category of normal activity",
                                 "in the category of normal activity, much like the penguin census"), encoding="utf-8")
    before = index.embedder.texts_embedded
    r = index.add([corpus])
    assert [Path(p).name for p in r.updated] == ["copy_of_004.txt"]
    assert 1 <= r.chunks_embedded <= 3 and r.chunks_reused > 20
    assert index.embedder.texts_embedded - before == r.chunks_embedded
    assert len(index) == n
    ids_004 = {c.chunk_id for c in index.chunks if Path(c.path) == copy}
    hits = index.search("penguin census", k=1, mode="bm25")
    assert "penguin census" in hits[0].text and hits[0].chunk_id in ids_004

    # A file deleted from a re-ingested folder loses its chunks.
    copy.unlink()
    r = index.add([corpus])
    assert [Path(p).name for p in r.removed] == ["copy_of_004.txt"]
    assert len(index) == n - len(ids_004)
    assert not any(c.doc_id == hits[0].doc_id for c in index.chunks)

    # All of it is on disk: a fresh open sees the same chunks and the same results.
    again = Index.open(index_copy)
    assert [c.chunk_id for c in again.chunks] == [c.chunk_id for c in index.chunks]
    q = "What did Blinken say about Iran's nuclear program?"
    assert [h.chunk_id for h in again.search(q)] == [h.chunk_id for h in index.search(q)]

    # Remove a folder; removing what is not indexed is reported, not an error.
    r = index.remove([SAMPLE, tmp_path / "never-indexed.txt"])
    assert len(r.removed) == 4 and [Path(p).name for p, _ in r.skipped] == ["never-indexed.txt"]
    assert len(index) == 0 and index.search("Iran") == []
    assert len(Index.open(index_copy)) == 0


def test_another_model_is_refused(index_copy, tmp_path):
    other = tmp_path / "other-model"
    other.mkdir()
    with pytest.raises(IndexStateError, match="built with embedding model"):
        Index.open(index_copy, model=str(other))
    with pytest.raises(IndexStateError, match="built with embedding model"):
        Index.build([SAMPLE], path=index_copy, model=str(other))


def test_dimension_mismatch_is_refused(index_copy):
    m = _manifest(index_copy)
    m["embedding"]["dim"] = 768
    _write_manifest(index_copy, m)
    with pytest.raises(IndexStateError, match="768-dimensional"):
        Index.open(index_copy).search("Taiwan")


def test_an_index_of_an_older_chunker_is_searched_then_rebuilt_in_place(index_copy):
    m = _manifest(index_copy)
    m["chunker"]["version"] = "0-old"
    _write_manifest(index_copy, m)
    old = Index.open(index_copy)                      # never refused: the old generation answers ...
    assert "chunker version '0-old'" in old.outdated
    before = [h.chunk_id for h in old.search("North Korea policy review", k=5)]
    r = run_cli("search", "North Korea policy review", "--index", str(index_copy))
    assert r.returncode == 0 and "older version" in r.stderr and "rebuilds it in place" in r.stderr
    report = Index.build([SAMPLE], path=index_copy).last_report   # ... until an ingest rebuilds it in place
    new = Index.open(index_copy)
    assert new.outdated is None and _manifest(index_copy)["chunker"]["version"] != "0-old"
    assert report.chunks_embedded == 0 and new.view.embedded == len(new) == len(old)   # same texts: vectors reused
    assert [h.chunk_id for h in new.search("North Korea policy review", k=5)] == before


def test_the_eval_measures_this_version_so_it_upgrades_an_older_index_first(index_copy):
    """`rag eval --index DIR` on an index an older chunker wrote measured the old passages (found when a parser
    change gave unlabelled speeches their title's speaker and the eval still cited them with none)."""
    from rag.evaluation.evaluate import open_index

    m = _manifest(index_copy)
    m["chunker"]["version"] = "0-old"
    _write_manifest(index_copy, m)
    files = sorted(p for p in Path(SAMPLE).iterdir() if p.suffix in (".txt", ".md"))
    index = open_index(index_copy, files, Path(SAMPLE))
    assert index.outdated is None and _manifest(index_copy)["chunker"]["version"] != "0-old"


@pytest.mark.parametrize("which", ["chunks", "vectors", "faiss"])
def test_truncated_or_corrupted_file_is_detected(index_copy, which):
    path = index_copy / _manifest(index_copy)["data"][which]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexStateError, match="checksum"):
        Index.open(index_copy)
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(IndexStateError, match="checksum"):
        Index.open(index_copy)


def test_missing_or_damaged_manifest(tmp_path, index_copy):
    with pytest.raises(IndexStateError, match="rag ingest"):
        Index.open(tmp_path / "nothing-here")
    good = (index_copy / "manifest.json").read_text(encoding="utf-8")
    (index_copy / "manifest.json").write_text(good[: len(good) // 2], encoding="utf-8")
    with pytest.raises(IndexStateError, match="corrupt"):
        Index.open(index_copy)
    m = json.loads(good)
    del m["data"]
    _write_manifest(index_copy, m)
    with pytest.raises(IndexStateError, match="damaged"):
        Index.open(index_copy)


def test_a_failed_write_leaves_the_previous_index_intact(index_copy, tmp_path, monkeypatch):
    index = Index.open(index_copy)
    q = "humanitarian access in Afghanistan"
    before = index.search(q)
    m0 = _manifest(index_copy)

    import rag.indexing.lexical

    def crash(self, folder):
        raise OSError("disk full (simulated)")
    monkeypatch.setattr(rag.indexing.lexical.Lexical, "save", crash)
    with pytest.raises(IndexStateError, match="simulated.*previous index is unchanged"):
        index.remove([SAMPLE / F004])
    monkeypatch.undo()

    assert _manifest(index_copy) == m0
    reopened = Index.open(index_copy)
    after = reopened.search(q)
    assert [h.chunk_id for h in after] == [h.chunk_id for h in before]
    assert [h.score for h in after] == pytest.approx([h.score for h in before])
    # The next write completes and cleans up the crashed generation's files.
    reopened.remove([SAMPLE / F004])
    g = _manifest(index_copy)["generation"]
    gens = {int(p.name.split(".")[1]) for p in index_copy.iterdir() if p.name.split(".")[0] in
            ("chunks", "vectors", "faiss", "bm25")}
    assert gens <= {g, g - 1}


def test_second_writer_waits_then_refuses_clearly(index_copy, tmp_path):
    bad = tmp_path / "in"
    bad.mkdir()
    (bad / "empty.txt").write_text("", encoding="utf-8")
    with Store(index_copy).lock():
        r = run_cli("ingest", str(bad), "--index", str(index_copy), env={"RAG_LOCK_TIMEOUT": "1"})
    assert r.returncode == 2
    assert "locked by another ingest" in r.stderr and "Traceback" not in r.stderr


def test_cli_ingest_reports_and_exit_code(index_copy, tmp_path):
    corpus = tmp_path / "in"
    corpus.mkdir()
    (corpus / "empty.txt").write_text("", encoding="utf-8")
    shutil.copy(SAMPLE / F004, corpus / "same_as_004.txt")
    r = run_cli("ingest", str(corpus), str(SAMPLE), "--index", str(index_copy))
    assert r.returncode == 1, r.stderr                       # a file was skipped
    assert "empty.txt" in r.stderr and "same_as_004.txt" in r.stderr
    assert "5 unchanged" in r.stdout and "1 skipped" in r.stdout and "0 embedded" in r.stdout
    (corpus / "empty.txt").unlink()
    r = run_cli("ingest", str(SAMPLE), "--index", str(index_copy), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["unchanged"] == 5 and report["chunks_embedded"] == 0 and report["skipped"] == []
    r = run_cli("remove", str(SAMPLE / F004), "--index", str(index_copy))
    assert r.returncode == 0 and "1 removed" in r.stdout


def test_an_interrupted_ingest_keeps_its_checkpoints(index_copy, tmp_path, monkeypatch):
    from rag.encoders.embedder import Embedder
    corpus = tmp_path / "new"
    corpus.mkdir()
    (corpus / "a.txt").write_text(
        "MODERATOR:  Thanks for joining this call on fisheries.\n\n"
        "SENIOR ADMINISTRATION OFFICIAL:  We agreed with our partners to close the northern cod fishery for two "
        "seasons so that the stock can recover.\n", encoding="utf-8")
    (corpus / "b.txt").write_text(
        "QUESTION:  What about the lighthouse keepers' pensions?\n\n"
        "SECRETARY BLINKEN:  The lighthouse keepers will keep their pensions; the department has guaranteed them "
        "in writing.\n", encoding="utf-8")
    monkeypatch.setenv("RAG_CHECKPOINT_CHUNKS", "1")   # commit after every file
    settings.use(None)                                  # read the environment again
    index = Index.open(index_copy)
    before = len(index)
    real, calls = Embedder.encode, []

    def killed_after_first_batch(self, texts, batch_size=None):
        if calls:
            raise KeyboardInterrupt("killed")
        calls.append(len(texts))
        return real(self, texts, batch_size)
    monkeypatch.setattr(Embedder, "encode", killed_after_first_batch)
    with pytest.raises(KeyboardInterrupt):
        index.add([corpus])
    monkeypatch.setattr(Embedder, "encode", real)

    reopened = Index.open(index_copy)
    names = {Path(e["path"]).name for e in reopened.documents}
    assert {"a.txt", "b.txt"} <= names                   # phase 1 committed both files' words
    assert reopened.view.embedded == before + 1          # the first checkpoint (one chunk) survived
    pending = len(reopened) - reopened.view.embedded
    assert pending >= 1
    hit = reopened.search("lighthouse keepers pensions", k=1)[0]
    assert Path(hit.path).name == "b.txt" and not hit.dense      # found by its words, said so
    texts_before = reopened.embedder.texts_embedded
    r = reopened.add([corpus])                          # the next ingest completes the work
    assert r.unchanged == 2 and r.added == [] and r.vectors_pending == 0
    assert r.chunks_embedded == reopened.embedder.texts_embedded - texts_before == pending
    assert reopened.search("lighthouse keepers pensions", k=1)[0].dense


def test_an_open_index_picks_up_another_writers_commit(index_copy):
    reader, writer = Index.open(index_copy), Index.open(index_copy)
    n = len(reader)
    assert reader.refresh() is False
    writer.remove([SAMPLE / F004])
    assert len(reader) == n                      # a reader keeps its consistent view ...
    assert reader.refresh() is True              # ... until it asks for the new one
    assert len(reader) == len(writer) < n and reader.refresh() is False


def test_mentions_looks_words_up_in_passages_speakers_and_titles(sample_index):
    """The abstention gate asks whether the whole index ever mentions a name; it must not scan every passage."""
    assert sample_index.mentions("Minsk") and sample_index.mentions("sanctions")   # passage words, any inflection
    assert sample_index.mentions("Blinken")                                       # a speaker label
    title_only = {w for c in sample_index.chunks for w in words(c.title or "")} - {
        w for c in sample_index.chunks for w in words(" ".join(x for x in (c.text, c.question, c.speaker) if x))}
    assert "interview" in title_only and sample_index.mentions("Interview")       # a word of a title only
    for absent in ("Khashoggi", "Haiti", "Xinjiang"):
        assert not sample_index.mentions(absent)
