"""Bad input battery: every bad file gets a clear message naming it and the reason, every good file in the
same run is indexed, and `rag ingest` exits non-zero when anything was skipped.

Most cases run `rag.ingest.load` (parsing only, fast). One test runs the real `rag ingest` command on a
mixed folder holding all of them next to good files, into a copy of the sample index.
"""
from __future__ import annotations

import codecs
import contextlib
import json
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest

from rag.ingest import find_files, load
from rag.ingest.readers import MAX_BYTES
from reliability_util import SAMPLE_DIR, run_rag, sample_index_copy

SAMPLE_003 = next(SAMPLE_DIR.glob("003_*.txt"))  # Sullivan-Yang background call, 14 KB

CP1252_BYTES = (b"Department Press Briefing\r\n\r\nMR. PRICE: The minister said \x93caf\xe9 diplomacy\x94 works "
                b"\x96 it\x92s the Fa\xe7ade we keep, na\xefvely.\r\n\r\nQUESTION: Is that so?\r\n\r\n"
                b"MR. PRICE: It is, \xa3 for \xa3.\r\n")
UTF16_TEXT = ("Press Gaggle\n\nMS. PSAKI: Les négociations à Genève sont “très sérieuses”, Zoë said.\n\n"
              "QUESTION: Merci — and the timeline?\n\nMS. PSAKI: Ça dépend.\n")


@contextlib.contextmanager
def deadline(seconds: int, what: str):
    """Fail (instead of hanging the test run) if the block takes longer than `seconds`."""
    def boom(signum, frame):
        raise TimeoutError(f"{what} did not finish within {seconds} s (hang)")
    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def one_error(tmp_path: Path, name: str, data: bytes | str) -> str:
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    r = load([str(tmp_path)])
    assert not r.transcripts, [t.path for t in r.transcripts]
    assert len(r.errors) == 1, [str(e) for e in r.errors]
    e = r.errors[0]
    assert Path(e.path) == p and str(p) in str(e)  # the message names the file
    return e.reason


def test_empty_file(tmp_path):
    assert "empty" in one_error(tmp_path, "empty.txt", b"")
    (tmp_path / "empty.txt").unlink()
    assert "empty" in one_error(tmp_path, "blank.txt", b"  \n\n\t \r\n")


def test_binary_file(tmp_path):
    data = bytes(range(256)) * 40 + os.urandom(2048)
    assert "binary" in one_error(tmp_path, "scan.txt", data)


def test_binary_without_nul_bytes(tmp_path):
    data = bytes(b for b in os.urandom(20000) if b not in (0, 0xFE, 0xFF, 0xEF))  # no NUL, no BOM start
    reason = one_error(tmp_path, "noise.txt", data)
    assert "binary" in reason or "undecodable" in reason or "no speaker" in reason or "no transcript" in reason


def test_cp1252_text_is_decoded_with_the_right_characters(tmp_path):
    (tmp_path / "legacy.txt").write_bytes(CP1252_BYTES)
    r = load([str(tmp_path)])
    assert not r.errors, [str(e) for e in r.errors]
    (t,) = r.transcripts
    text = "\n".join(x.text for x in t.turns)
    assert "“café diplomacy” works – it’s the Façade we keep, naïvely." in text
    assert "£ for £" in text and "\r" not in text
    assert [x.speaker for x in t.turns if x.speaker] == ["MR. PRICE", "QUESTION", "MR. PRICE"]


def test_latin1_text_is_decoded(tmp_path):
    (tmp_path / "latin1.txt").write_bytes("MR. KIRBY: Señor Muñoz visited Zürich.\n\nQUESTION: Où?\n".encode("latin-1"))
    (t,) = load([str(tmp_path)]).transcripts
    assert [(x.speaker, x.text) for x in t.turns] == [("MR. KIRBY", "Señor Muñoz visited Zürich."), ("QUESTION", "Où?")]


@pytest.mark.parametrize("bom,encoding", [(codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
                                          (codecs.BOM_UTF8, "utf-8")])
def test_utf16_and_utf8_with_bom_are_ingested(tmp_path, bom, encoding):
    (tmp_path / "wide.txt").write_bytes(bom + UTF16_TEXT.replace("\n", "\r\n").encode(encoding))
    r = load([str(tmp_path)])
    assert not r.errors, [str(e) for e in r.errors]
    (t,) = r.transcripts
    turns = [x for x in t.turns if x.speaker]
    assert [x.speaker for x in turns] == ["MS. PSAKI", "QUESTION", "MS. PSAKI"]
    assert turns[0].text == "Les négociations à Genève sont “très sérieuses”, Zoë said."
    assert "\ufeff" not in t.title and all("\ufeff" not in x.text for x in t.turns)


def test_html_page_without_transcript_is_skipped_with_reason(tmp_path):
    page = ("<!DOCTYPE html><html><head><title>Press Briefings - United States Department of State</title>"
            "<script>var x = 'MR. PRICE: not a turn';</script></head><body><header>An official website of the "
            "United States Government</header><nav><a href='/'>Home</a></nav><main></main>"
            "<footer>U.S. Department of State</footer></body></html>")
    reason = one_error(tmp_path, "listing.html", page)
    assert "no transcript" in reason or "no speaker" in reason


def test_malformed_yaml_front_matter_names_the_file(tmp_path):
    reason = one_error(tmp_path, "broken.md", "---\ntitle: [Press Briefing\ndate: 2021-03-01\n---\n\n"
                                             "MS. PSAKI: Hello.\n\nQ Hi.\n")
    assert "front matter" in reason and "YAML" in reason


def test_front_matter_that_is_not_a_mapping(tmp_path):
    reason = one_error(tmp_path, "list.md", "---\n- a\n- b\n---\n\nMS. PSAKI: Hello.\n")
    assert "front matter" in reason


def test_transcript_without_speaker_labels(tmp_path):
    reason = one_error(tmp_path, "prose.txt", "The Secretary met the minister today.\n\nThey discussed trade.\n" * 5)
    assert "no speaker turns" in reason


def test_statement_without_labels_is_kept_when_it_has_metadata(tmp_path):
    """The honest counterpart: a published statement (front matter) has no speakers and is kept, unattributed."""
    (tmp_path / "statement.md").write_text("---\ntitle: Statement on Fisheries\ndate: 2022-05-01\n---\n\n"
                                           "The United States welcomes the agreement.\n", encoding="utf-8")
    (t,) = load([str(tmp_path)]).transcripts
    assert t.title == "Statement on Fisheries" and [x.speaker for x in t.turns] == [None]
    assert t.turns[0].role == "unattributed"


def test_same_transcript_twice_is_loaded_once(tmp_path):
    shutil.copy(SAMPLE_003, tmp_path / "a_call.txt")
    shutil.copy(SAMPLE_003, tmp_path / "b_copy_of_call.txt")
    r = load([str(tmp_path)])
    assert [Path(t.path).name for t in r.transcripts] == ["a_call.txt"]
    assert r.duplicates == [(str(tmp_path / "b_copy_of_call.txt"), str(tmp_path / "a_call.txt"))]
    assert not r.errors


def test_symlink_loop_does_not_hang(tmp_path):
    shutil.copy(SAMPLE_003, tmp_path / "call.txt")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "loop").symlink_to("..", target_is_directory=True)   # sub/loop -> its parent
    (tmp_path / "self").symlink_to(".", target_is_directory=True)            # a folder linking to itself
    with deadline(30, "find_files over a symlink loop"):
        files = find_files([str(tmp_path)])
        files_via_link = find_files([str(tmp_path / "sub" / "loop")])
        r = load([str(tmp_path / "sub" / "loop"), str(tmp_path)])
    assert files == [tmp_path / "call.txt"]
    assert len(files_via_link) == 1
    assert len(r.transcripts) == 1 and not r.errors


def test_fifo_does_not_hang(tmp_path):
    """A named pipe with a transcript-like name: reading it would block forever; it must be reported instead."""
    shutil.copy(SAMPLE_003, tmp_path / "call.txt")
    os.mkfifo(tmp_path / "pipe.txt")
    with deadline(30, "loading a folder holding a FIFO"):
        r = load([str(tmp_path)])
    assert [Path(t.path).name for t in r.transcripts] == ["call.txt"]
    assert [Path(e.path).name for e in r.errors] == ["pipe.txt"]
    assert "regular file" in r.errors[0].reason


def test_dangling_symlink(tmp_path):
    (tmp_path / "gone.txt").symlink_to(tmp_path / "deleted-long-ago.txt")
    r = load([str(tmp_path)])
    assert not r.transcripts and len(r.errors) == 1 and "gone.txt" in str(r.errors[0])
    assert "no such file" in r.errors[0].reason


@contextlib.contextmanager
def as_user(uid: int):
    """Run the block with effective uid `uid` (root keeps its real uid and switches back afterwards)."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(uid)
    os.seteuid(uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_unreadable_file(tmp_path):
    """A file without read permission. Tests often run as root, which reads any file regardless of mode bits:
    then the load runs with the effective uid of `nobody` (65534), so the permission check is real."""
    import bs4  # noqa: F401  (imported before dropping privileges)
    folder = Path(tempfile.mkdtemp(prefix="rag-perm-", dir="/tmp"))
    try:
        folder.chmod(0o755)
        shutil.copy(SAMPLE_003, folder / "readable.txt")
        (folder / "readable.txt").chmod(0o644)
        (folder / "locked.txt").write_text("MR. PRICE: Hello.\n\nQUESTION: Hi.\n")
        (folder / "locked.txt").chmod(0o000)
        with as_user(65534):
            r = load([str(folder)])
        assert [Path(t.path).name for t in r.transcripts] == ["readable.txt"]
        assert len(r.errors) == 1 and r.errors[0].path == str(folder / "locked.txt")
        assert "unreadable" in r.errors[0].reason and "ermission" in r.errors[0].reason
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_path_that_does_not_exist(tmp_path):
    r = load([str(tmp_path / "no-such-briefing.txt"), str(tmp_path / "no-such-folder")])
    assert not r.transcripts
    assert [Path(e.path).name for e in r.errors] == ["no-such-briefing.txt", "no-such-folder"]
    assert all("no such file" in e.reason for e in r.errors)


def write_50mb(path: Path) -> int:
    """A 50,000,000-byte text file made of real transcript text (labels included), written in blocks."""
    block = SAMPLE_003.read_bytes()
    size = 50_000_000
    with open(path, "wb") as f:
        written = 0
        while written < size:
            chunk = block[: size - written]
            f.write(chunk)
            written += len(chunk)
    return size


def test_50mb_file_is_refused_quickly_by_size(tmp_path):
    """Decision (documented in the README): the largest real transcript in the 3,794-file corpus is 105 KB, so a
    file over rag.ingest.readers.MAX_BYTES is refused from its size alone, before it is read, instead of spending many
    minutes embedding tens of thousands of chunks. Good files in the same run are still loaded."""
    assert MAX_BYTES < 50_000_000, "the size limit must refuse a 50 MB transcript"
    shutil.copy(SAMPLE_003, tmp_path / "call.txt")
    write_50mb(tmp_path / "huge.txt")
    t0 = time.perf_counter()
    with deadline(60, "loading a folder with a 50 MB file"):
        r = load([str(tmp_path)])
    took = time.perf_counter() - t0
    assert [Path(t.path).name for t in r.transcripts] == ["call.txt"]
    (e,) = r.errors
    assert e.path == str(tmp_path / "huge.txt") and "too large" in e.reason and "50000000" in e.reason
    print(f"50 MB file refused in {took:.2f} s (limit {MAX_BYTES} bytes)")


def test_rag_ingest_mixed_folder(tmp_path, sample_index):
    """The real command on a folder mixing good and bad files, into an index that already holds the sample."""
    index = sample_index_copy(tmp_path / "index", sample_index)
    before = json.loads((index / "manifest.json").read_text())
    d = tmp_path / "inbox"
    (d / "nested").mkdir(parents=True)
    (d / "legacy.txt").write_bytes(CP1252_BYTES)                                    # good (cp1252)
    (d / "wide.txt").write_bytes(codecs.BOM_UTF16_LE + UTF16_TEXT.encode("utf-16-le"))  # good (UTF-16)
    shutil.copy(SAMPLE_003, d / "nested" / "same_call_other_name.txt")              # duplicate of an indexed one
    bad = {
        "empty.txt": ("empty", b""),
        "scan.txt": ("binary", bytes(range(256)) * 8),
        "listing.html": ("no transcript", b"<html><head><title>x</title></head><body><nav>Home</nav></body></html>"),
        "broken.md": ("YAML", b"---\ntitle: [oops\n---\nMS. PSAKI: Hi.\n"),
        "prose.txt": ("no speaker turns", b"Just a paragraph.\n\nAnother one.\n"),
    }
    for name, (_, data) in bad.items():
        (d / name).write_bytes(data)
    write_50mb(d / "huge.txt")
    bad["huge.txt"] = ("too large", None)
    (d / "nested" / "loop").symlink_to("..", target_is_directory=True)
    if os.geteuid() != 0:  # root reads mode-000 files; test_unreadable_file covers that case as `nobody`
        (d / "locked.txt").write_text("MR. PRICE: Hello.\n\nQUESTION: Hi.\n")
        (d / "locked.txt").chmod(0)
        bad["locked.txt"] = ("unreadable", None)
    missing = tmp_path / "not-there.txt"

    r = run_rag("ingest", d, missing, "--index", index, "--json", timeout=900)
    assert r.returncode == 1, (r.returncode, r.stderr[-3000:])
    report = json.loads(r.stdout)
    skipped = {Path(s["path"]).name: s["reason"] for s in report["skipped"]}
    for name, (why, _) in bad.items():
        assert why in skipped.get(name, ""), (name, skipped)
        line = [x for x in r.stderr.splitlines() if x.startswith("rag: skipped") and name in x]
        assert line and why in line[0], (name, r.stderr[-3000:])   # stderr names the file and the reason
    assert "not-there.txt" in skipped and "no such file" in skipped["not-there.txt"]
    assert sorted(Path(p).name for p in report["added"]) == ["legacy.txt", "same_call_other_name.txt", "wide.txt"]
    assert [(Path(a).name, Path(b).name) for a, b in
            [(x["path"], x["same_as"]) for x in report["duplicates"]]] == [("same_call_other_name.txt", SAMPLE_003.name)]
    assert "same transcript as" in r.stderr
    # the good files are searchable with the right characters; the duplicate added no chunks
    after = json.loads((index / "manifest.json").read_text())
    assert report["documents_total"] == 7 and report["chunks_total"] == before["count"] + report["chunks_embedded"]
    chunks = [json.loads(x) for x in open(index / after["data"]["chunks"], encoding="utf-8")]
    texts = "\n".join(c["text"] for c in chunks)
    assert "“café diplomacy” works – it’s the Façade" in texts and "“très sérieuses”, Zoë" in texts
    assert not any("huge.txt" in c["path"] or "prose.txt" in c["path"] for c in chunks)

    # a clean run: nothing skipped -> exit 0
    ok = tmp_path / "ok"
    ok.mkdir()
    (ok / "legacy.txt").write_bytes(CP1252_BYTES)
    r2 = run_rag("ingest", ok, "--index", index, timeout=600)
    assert r2.returncode == 0, r2.stderr[-2000:]
    assert "0 skipped" in r2.stdout
