"""Crash safety of the index folder: a killed ingest never damages a committed generation (words first, then
vectors in checkpoints: a kill loses at most one), writers take a lock, damaged files are detected by the
manifest's checksums, and nothing on disk is ever unpickled."""
from __future__ import annotations

import json
import re
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rag import Index
from rag.errors import IndexStateError
from rag.indexing.store import Store
from reliability_util import RAG, ROOT, SAMPLE_DIR, env, run_rag, sample_index_copy, search_json

QUERIES = ["What did Blinken say about Russia and Ukraine?",
           "tone of the meeting between Biden and Putin in Geneva",
           "North Korea policy review"]
CORPUS = Path(os.environ.get("BRIEFING_CORPUS", ROOT.parent / "shared" / "corpus" / "wh-briefings"))
CRASH_FILES = int(os.environ.get("RAG_CRASH_FILES", "10"))  # size of the "large" ingest that gets killed


def results(index_path: Path) -> dict[str, list[tuple[str, float]]]:
    """Top-5 hybrid results (chunk id, score) for QUERIES from a freshly opened Index."""
    index = Index.open(index_path)
    return {q: [(h.chunk_id, round(h.score, 6)) for h in index.search(q, k=5)] for q in QUERIES}


def manifest(index_path: Path) -> dict:
    return json.loads((index_path / "manifest.json").read_text(encoding="utf-8"))


def big_folder(dst: Path, n: int) -> Path:
    """`n` real transcripts new to the sample index: CC0 corpus press briefings when the corpus is present,
    otherwise sample transcripts made distinct (a different opening turn, an extra exchange and a marker at the end of
    every paragraph per copy, so that no chunk's vector can be reused and phase 2 has real work to be killed in)."""
    dst.mkdir()
    corpus = sorted((CORPUS / "press-briefings").rglob("*.md")) if CORPUS.is_dir() else []
    if len(corpus) >= n:
        step = max(1, len(corpus) // n)
        for f in corpus[::step][:n]:
            shutil.copy(f, dst / f.name)
        return dst
    samples = sorted(SAMPLE_DIR.glob("*.txt"))
    for i in range(n):
        src = samples[i % len(samples)]
        text = re.sub(r"(?<=\S)\n\n", f" (copy {i})\n\n", src.read_text(encoding="utf-8"))
        (dst / f"copy{i:03d}_{src.name}").write_text(
            f"MODERATOR: Copy {i}: welcome to briefing number {i} on topic {i * 7919 % 1000}.\n\n{text}\n\n"
            f"QUESTION: Question {i} about item {i * 31}?\n\nMR. PRICE: Answer {i} on item {i * 31}.\n",
            encoding="utf-8")
    return dst


def start_ingest(folder: Path, index: Path, log: Path, extra_env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([str(RAG), "ingest", str(folder), "--index", str(index)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=open(log, "wb"), env={**env(), **(extra_env or {})})


def wait_for(cond, timeout: float, what: str, proc: subprocess.Popen | None = None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        if proc is not None and proc.poll() is not None:
            return cond()
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


# ---- killed ingests ------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_sigkill_mid_ingest_loses_at_most_a_checkpoint_and_the_next_ingest_resumes(tmp_path, sample_index):
    """Phase 1 commits every file's words; phase 2 commits vectors in checkpoints. A SIGKILL in phase 2 keeps
    what was committed, the index opens and searches (each hit says whether it had a vector), and the next
    ingest embeds only what no committed checkpoint holds (counted)."""
    from rag.indexing.updates import content_key
    index = sample_index_copy(tmp_path / "index", sample_index)
    before = manifest(index)
    folder = big_folder(tmp_path / "big", CRASH_FILES)
    log = tmp_path / "ingest.log"
    proc = start_ingest(folder, index, log, {"RAG_CHECKPOINT_CHUNKS": "128"})
    try:
        def one_checkpoint_in():   # phase 1 and at least one checkpoint of vectors committed, more to come
            m = manifest(index)
            return m if m["generation"] >= before["generation"] + 2 and m["embedded"] < m["count"] else None
        wait_for(one_checkpoint_in, 900, "a committed checkpoint of vectors", proc)
        assert proc.poll() is None, "the ingest finished before it could be killed; raise RAG_CRASH_FILES"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed = manifest(index)
    e, n = killed["embedded"], killed["count"]
    assert before["count"] < e < n, (before["count"], e, n)
    print(f"killed with {e} of {n} chunks embedded")

    # the index opens (checksums verify); every file's words are searchable; hits say how they were ranked
    idx = Index.open(index)
    assert len(idx) == n and idx.view.embedded == e and len(idx.vectors) == e
    row = {c.chunk_id: i for i, c in enumerate(idx.chunks)}
    for q in QUERIES + ["What did the press secretary say about inflation?"]:
        for h in idx.search(q, k=10):
            assert h.dense == (row[h.chunk_id] < e)
        assert all(h.dense and row[h.chunk_id] < e for h in idx.search(q, k=10, mode="dense"))
    assert any(not h.dense for q in ["press secretary", "the President"] for h in idx.search(q, k=10, mode="bm25"))

    # the next ingest resumes: nothing a committed checkpoint holds is embedded again
    keys = [content_key(c) for c in idx.chunks]
    expected = len(set(keys[e:]) - set(keys[:e]))
    r = run_rag("ingest", folder, "--index", index, "--json", timeout=3600)
    assert r.returncode in (0, 1), r.stderr[-3000:]
    report = json.loads(r.stdout)
    assert report["added"] == [] and report["updated"] == [] and report["unchanged"] >= 1
    assert report["chunks_embedded"] == expected, (report["chunks_embedded"], expected)
    assert report["vectors_pending"] == 0
    after = manifest(index)
    assert after["embedded"] == after["count"] == n
    assert all(f in after["files"] for f in before["files"])   # sample still there
    done = Index.open(index)   # checksums of the new generation verify
    assert all(h.dense for q in QUERIES for h in done.search(q, k=5))   # every hit ranked with its vector now


CRASH_AT_SWITCH = r"""
import os, signal, sys
real = os.replace
def replace(src, dst, *a, **k):
    if str(dst).endswith("manifest.json"):      # every new data file is written: die before the switch
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst, *a, **k)
os.replace = replace
from rag.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigkill_at_the_manifest_switch(tmp_path, sample_index):
    """The worst moment: the new generation's files are all written, the manifest not yet replaced."""
    index = sample_index_copy(tmp_path / "index", sample_index)
    before_manifest, before = manifest(index), results(index)
    folder = tmp_path / "new"
    folder.mkdir()
    (folder / "fisheries.txt").write_text("MR. PRICE: Cod quotas with Iceland will be agreed next spring.\n\n"
                                          "QUESTION: Which species?\n\nMR. PRICE: Cod and haddock.\n")
    p = subprocess.run([sys.executable, "-c", CRASH_AT_SWITCH, "ingest", str(folder), "--index", str(index)],
                       cwd=ROOT, env=env(), capture_output=True, text=True, timeout=600)
    assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
    g = before_manifest["generation"]
    leftovers = sorted(x.name for x in index.iterdir() if f".{g + 1}" in x.name or x.name.endswith(".tmp"))
    assert leftovers, "the writer should have died after writing the next generation's files"
    assert manifest(index) == before_manifest
    assert results(index) == before

    r = run_rag("ingest", folder, "--index", index, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    after = manifest(index)
    # words (phase 1), then vectors (phase 2): at least two generations, every chunk embedded
    assert after["generation"] >= g + 2 and after["count"] > before_manifest["count"] and after["embedded"] == after["count"]
    hits = Index.open(index).search("cod quotas Iceland", k=1)
    assert hits and "Cod quotas" in hits[0].text


# ---- the writer lock --------------------------------------------------------------------------------------------

def test_second_writer_waits_or_refuses_clearly(tmp_path, sample_index):
    """Another process holds the writer lock: an ingest with a short timeout refuses with a clear message and
    changes nothing; an ingest with the default timeout waits and then completes once the lock is released."""
    index = sample_index_copy(tmp_path / "index", sample_index)
    before_manifest = manifest(index)
    folder = tmp_path / "new"
    folder.mkdir()
    (folder / "fisheries.txt").write_text("MR. PRICE: Cod quotas with Iceland will be agreed next spring.\n\n"
                                          "QUESTION: Which species?\n\nMR. PRICE: Cod and haddock.\n")
    holder = Store(index).lock(timeout=5)
    holder.__enter__()
    released = False
    try:
        r = subprocess.run([str(RAG), "ingest", str(folder), "--index", str(index)], cwd=ROOT,
                           env={**env(), "RAG_LOCK_TIMEOUT": "2"}, capture_output=True, text=True, timeout=600)
        assert r.returncode == 2, r.stderr[-2000:]
        assert "being written by another process; waiting" in r.stderr
        assert "locked by another ingest or remove" in r.stderr and "Traceback" not in r.stderr
        assert manifest(index) == before_manifest

        log = tmp_path / "waiter.log"
        waiter = start_ingest(folder, index, log)
        wait_for(lambda: "waiting" in log.read_text(errors="replace"), 300, "the second writer to wait", waiter)
        time.sleep(1)
        assert waiter.poll() is None and manifest(index) == before_manifest  # it waits, writes nothing
        holder.__exit__(None, None, None)
        released = True
        assert waiter.wait(timeout=600) == 0, log.read_text(errors="replace")[-2000:]
    finally:
        if not released:
            holder.__exit__(None, None, None)
    assert manifest(index)["generation"] >= before_manifest["generation"] + 2   # words, then vectors
    assert manifest(index)["embedded"] == manifest(index)["count"]
    assert any(k.endswith("fisheries.txt") for k in manifest(index)["files"])


@pytest.mark.slow
def test_two_ingests_at_once_do_not_interleave(tmp_path, sample_index):
    """Two real `rag ingest` processes on one index: the second waits for the first, then adds its file on top
    of the first one's work (no lost update, one generation each). A reader that opened the index before keeps
    answering from its generation while both write, and picks up the result on refresh."""
    index = sample_index_copy(tmp_path / "index", sample_index)
    g0 = manifest(index)["generation"]
    reader = Index.open(index)
    reader_before = [h.chunk_id for h in reader.search(QUERIES[1], k=5)]
    a_folder = big_folder(tmp_path / "a", 3)
    b_folder = tmp_path / "b"
    b_folder.mkdir()
    (b_folder / "fisheries.txt").write_text("MR. PRICE: Cod quotas with Iceland will be agreed next spring.\n\n"
                                            "QUESTION: Which species?\n\nMR. PRICE: Cod and haddock.\n")
    a = start_ingest(a_folder, index, tmp_path / "a.log")
    try:
        lock = index / ".lock"
        wait_for(lambda: lock.exists() and lock.read_text().strip() == str(a.pid), 300, "A to take the lock", a)
        b = start_ingest(b_folder, index, tmp_path / "b.log")
        a_running_when_b_started = a.poll() is None
        assert a.wait(timeout=1800) == 0, (tmp_path / "a.log").read_text(errors="replace")[-2000:]
        assert b.wait(timeout=1800) == 0, (tmp_path / "b.log").read_text(errors="replace")[-2000:]
    finally:
        for p in (a, locals().get("b")):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    if a_running_when_b_started:
        assert "waiting" in (tmp_path / "b.log").read_text(errors="replace")
    m = manifest(index)
    assert m["generation"] >= g0 + 4 and m["embedded"] == m["count"]   # each writer: words, then vectors
    names = {Path(k).name for k in m["files"]}
    assert {f.name for f in a_folder.iterdir()} <= names and "fisheries.txt" in names   # nothing lost
    # the reader still answers from the generation it opened, then sees both writes
    assert [h.chunk_id for h in reader.search(QUERIES[1], k=5)] == reader_before
    assert reader.refresh() and len(reader) == m["count"]
    assert reader.search("cod quotas Iceland", k=1)[0].text.startswith("Cod quotas")


# ---- damaged files ---------------------------------------------------------------------------------------------

def _flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x01]))


DAMAGE = {
    "truncated FAISS file": lambda ix, d: os.truncate(ix / d["faiss"], (ix / d["faiss"]).stat().st_size // 2),
    "byte flipped in the chunk store": lambda ix, d: _flip(ix / d["chunks"], 1000),
    "byte flipped in the vectors": lambda ix, d: _flip(ix / d["vectors"], (ix / d["vectors"]).stat().st_size - 7),
    "BM25 file emptied": lambda ix, d: next(p for p in sorted((ix / d["bm25"]).iterdir()) if p.is_file()).write_bytes(b""),
    "chunk store deleted": lambda ix, d: (ix / d["chunks"]).unlink(),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_index_file_is_detected(tmp_path, damage, sample_index):
    index = sample_index_copy(tmp_path / "index", sample_index)
    DAMAGE[damage](index, manifest(index)["data"])
    with pytest.raises(IndexStateError) as e:
        Index.open(index)
    msg = str(e.value)
    assert str(index) in msg and ("corrupt" in msg or "missing" in msg or "damaged" in msg), msg
    assert "rag ingest" in msg  # says what to do


def test_damaged_manifest_is_detected_and_cli_says_so(tmp_path, sample_index):
    index = sample_index_copy(tmp_path / "index", sample_index)
    _flip(index / "manifest.json", 0)            # '{' -> 'z'
    with pytest.raises(IndexStateError, match="manifest.json is unreadable or corrupt"):
        Index.open(index)
    r = run_rag("search", "Ukraine", "--index", index, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("rag: error:") and "corrupt" in r.stderr


def test_damaged_checksum_also_stops_an_ingest(tmp_path, sample_index):
    """A writer must not build a new generation on top of damaged data."""
    index = sample_index_copy(tmp_path / "index", sample_index)
    before = manifest(index)
    _flip(index / before["data"]["chunks"], 500)
    r = run_rag("ingest", SAMPLE_DIR, "--index", index, timeout=600)
    assert r.returncode == 2 and "checksum" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert manifest(index) == before


# ---- no unsafe deserialisation -------------------------------------------------------------------------------

PICKLE_MAGIC = re.compile(rb"^\x80[\x02-\x05]")


def test_index_files_hold_no_pickles(tmp_path, sample_index):
    index = sample_index_copy(tmp_path / "index", sample_index)
    files = [p for p in index.rglob("*") if p.is_file()]
    assert len(files) >= 5
    for p in files:
        head = p.read_bytes()[:2]
        assert not PICKLE_MAGIC.match(head), f"{p} starts like a pickle"
        if p.suffix == ".npy":
            a = np.load(p, allow_pickle=False)   # raises on object arrays, which need pickle
            assert a.dtype != object
        if p.suffix == ".json" or p.suffix == ".jsonl":
            text = p.read_text(encoding="utf-8")
            (json.loads(text) if p.suffix == ".json" else [json.loads(x) for x in text.splitlines() if x])
    assert all(p.suffix in (".json", ".jsonl", ".npy", ".index", "") or p.name == ".lock" for p in files), files


def test_sources_never_unpickle():
    """No pickle, torch.load without weights_only, np.load(allow_pickle=True), joblib/dill or eval in the code
    that reads index or model files."""
    bad = re.compile(r"\bimport pickle\b|\bpickle\.loads?\(|\bcPickle\b|\bjoblib\b|\bdill\b|allow_pickle\s*=\s*True"
                     r"|\bshelve\b|\bmarshal\.loads?\(|(?<![\w.])eval\(|\bexec\(")
    found = []
    for folder in ("rag", "ui"):
        for p in (ROOT / folder).rglob("*.py"):
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
                code = line.split("#", 1)[0]
                if bad.search(code):
                    found.append(f"{p.relative_to(ROOT)}:{i}: {line.strip()}")
                if "torch.load(" in code and "weights_only=True" not in code:
                    found.append(f"{p.relative_to(ROOT)}:{i}: {line.strip()}")
                if "trust_remote_code=True" in code:
                    found.append(f"{p.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not found, "\n".join(found)
