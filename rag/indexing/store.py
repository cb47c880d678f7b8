"""The index folder on disk: manifest, chunk store, vectors, FAISS and BM25 files, written atomically.
Takes a manifest, chunks, vectors and BM25 texts; gives checksummed generations and reads them back.

Layout (g = generation number, bumped by every write):

    manifest.json        what is in the index and which data files hold it, with sha256 checksums
    chunks.g.jsonl       one Chunk per line (JSON), row i = vector i = FAISS id i
    vectors.g.npy        float32 (e, dim) unit vectors of the first e rows (numpy format, allow_pickle=False);
                         e = manifest "embedded" <= count: an ingest commits every chunk with its BM25 first,
                         then the vectors in checkpoints (rows e.. are searched by BM25 only until then)
    faiss.g.index        faiss.write_index of make_faiss_index(vectors): the first f <= e rows (f = its ntotal).
                         While an ingest embeds, checkpoints keep the graph of the one before (linked) and
                         rows f..e are searched exactly (rag.indexing.vectors); the last checkpoint grows it
    bm25.g/              bm25s.BM25.save(..., allow_pickle=False): .npy arrays + JSON vocabulary
    windows.g.npy        float32 unit vectors of sentence windows (rag.indexing.windows), only in a generation
    wrows.g.npy          that has every vector: the chunk row of each window (ascending), and their FAISS
    wfaiss.g.index       index. `write_windows` adds them in a generation of their own (all else linked)
    .lock                writers hold an exclusive flock on it

Crash safety: a write puts all data under new generation-numbered names, fsyncs
them, then atomically replaces manifest.json (os.replace) and fsyncs the
folder. Until that rename, readers and a crashed writer's successor see the
previous generation untouched. A generation that only adds vectors links the previous one's chunk and
BM25 files under its own names instead of writing them again (they are never modified in place); one that only
adds windows links every other file. Files of generations older than the previous
one are deleted afterwards (the previous one is kept for readers that opened
it a moment before the switch). No file is ever unpickled.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np

from rag.errors import IndexStateError
from rag.indexing.ann import grow_faiss_index, make_faiss_index
from rag.indexing.lexical import Lexical
from rag.records import Chunk
from rag.settings import current

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LOCK = ".lock"
_GEN_FILE = re.compile(r"^(chunks|vectors|faiss|bm25|windows|wrows|wfaiss)\.(\d+)(\.jsonl|\.npy|\.index)?$")


def _names(g: int) -> dict[str, str]:
    """The data files of generation g, by kind (the last three only in a generation with sentence windows)."""
    return {"chunks": f"chunks.{g}.jsonl", "vectors": f"vectors.{g}.npy", "faiss": f"faiss.{g}.index",
            "bm25": f"bm25.{g}", "windows": f"windows.{g}.npy", "wrows": f"wrows.{g}.npy", "wfaiss": f"wfaiss.{g}.index"}


_WINDOW_KINDS = ("windows", "wrows", "wfaiss")


# chunk fields repeated across the chunks of one briefing or turn: loaded as one shared string each
SHARED_FIELDS = ("doc_id", "path", "title", "date", "source_url", "publisher", "kind", "speaker", "role", "question",
                 "question_speaker")


@dataclass
class Loaded:
    """One generation of the index, read from disk and checked."""
    manifest: dict[str, Any]
    chunks: list[Chunk]
    vectors: np.ndarray        # read-only memory map
    faiss_index: Any
    lexical: Lexical
    windows: Optional[tuple] = None   # (matrix memory map, chunk row of each, FAISS index), when it has them


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _link(src: Path, dst: Path) -> None:
    """`dst` as a second name of the immutable file `src` (a copy where hard links are not supported)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
        _fsync_file(dst)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems cannot fsync a folder
        _fsync_file(path)


def _npy_header(f) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) of the .npy file open at its start; the file is left at the first data byte."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    if fortran or dtype != np.dtype("<f4") or len(shape) != 2:
        raise IndexStateError(f"{getattr(f, 'name', 'a vector file')} does not hold float32 rows")
    return shape, dtype


def _append_rows(src: Path, rows: np.ndarray, dst: Path) -> tuple[int, int]:
    """Write `dst` = the rows of the vector file `src` followed by `rows`, streaming `src`'s bytes (plain reads:
    nothing is memory-mapped, so the copy does not count in the process's memory). Returns (rows, dim)."""
    rows = np.ascontiguousarray(rows, dtype="<f4")
    with open(src, "rb") as f:
        (e, d), _ = _npy_header(f)
        if e == 0:
            d = rows.shape[1] if rows.ndim == 2 and len(rows) else d
        elif len(rows) and rows.shape[1] != d:
            raise IndexStateError(f"{src} holds {d}-dimensional vectors, not {rows.shape[1]}-dimensional ones")
        with open(dst, "wb") as out:
            np.lib.format.write_array_header_1_0(out, {"descr": "<f4", "fortran_order": False,
                                                       "shape": (e + len(rows), d)})
            shutil.copyfileobj(f, out, 1 << 24)
            out.write(rows.tobytes())
    return e + len(rows), d


def _row_blocks(path: Path, start: int, stop: int, block: int = 16384) -> Iterator[np.ndarray]:
    """Rows start..stop of a vector file in blocks, read with plain reads (not memory-mapped)."""
    with open(path, "rb") as f:
        (_, d), _ = _npy_header(f)
        first = f.tell()
        for a in range(start, stop, block):
            b = min(stop, a + block)
            f.seek(first + a * d * 4)
            yield np.fromfile(f, dtype="<f4", count=(b - a) * d).reshape(b - a, d)


class Store:
    def __init__(self, folder):
        self.folder = Path(folder)
        self.manifest_path = self.folder / MANIFEST

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    # -- lock -----------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, timeout: Optional[float] = None) -> Iterator[None]:
        """Exclusive writer lock. A second writer waits (saying so on stderr), then gives up clearly."""
        timeout = current().index.lock_timeout_s if timeout is None else timeout
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise IndexStateError(f"cannot use {self.folder}/ as an index folder: {e.strerror or e}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"rag: index {self.folder} is being written by another process; waiting "
                      f"(up to {timeout:.0f} s)...", file=sys.stderr, flush=True)
                deadline = time.monotonic() + timeout
                while True:
                    time.sleep(0.2)
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            raise IndexStateError(
                                f"index {self.folder} is locked by another ingest or remove that is still running "
                                f"after {timeout:.0f} s; try again when it has finished") from None
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield
        finally:
            os.close(fd)  # closing releases the flock

    # -- reading --------------------------------------------------------------
    def read_manifest(self) -> dict[str, Any]:
        if not self.folder.is_dir():
            raise IndexStateError(f"no index at {self.folder}/: build one with `rag ingest PATH --index {self.folder}`")
        if not self.manifest_path.is_file():
            raise IndexStateError(f"{self.folder}/ holds no index (no {MANIFEST}): "
                                  f"build one with `rag ingest PATH --index {self.folder}`")
        try:
            manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise IndexStateError(f"{self.manifest_path} is unreadable or corrupt ({e}); "
                                  f"delete {self.folder}/ and run `rag ingest` again") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
            raise IndexStateError(f"{self.manifest_path} has format {manifest.get('format') if isinstance(manifest, dict) else '?'}, "
                                  f"this version reads format {FORMAT_VERSION}; delete {self.folder}/ and run `rag ingest` again")
        shapes = {"generation": int, "count": int, "data": dict, "checksums": dict, "files": dict,
                  "embedding": dict, "chunker": dict}
        bad = [k for k, t in shapes.items() if not isinstance(manifest.get(k), t)]
        if not bad and set(manifest["data"]) not in (set(_names(0)) - set(_WINDOW_KINDS), set(_names(0))):
            bad = ["data"]
        if bad:
            raise IndexStateError(f"{self.manifest_path} is damaged (bad or missing {', '.join(bad)}); "
                                  f"delete {self.folder}/ and run `rag ingest` again")
        return manifest

    def load(self, manifest: Optional[dict[str, Any]] = None) -> Loaded:
        """Read and verify the generation named by the manifest (re-reading it once if a writer switched meanwhile)."""
        for attempt in range(3):
            m = manifest if (manifest is not None and attempt == 0) else self.read_manifest()
            try:
                return self._load(m)
            except FileNotFoundError as e:
                if self.read_manifest().get("generation") == m.get("generation"):
                    raise IndexStateError(f"index file {e.filename} is missing; the index in {self.folder}/ is damaged: "
                                          f"delete it and run `rag ingest` again") from None
        raise IndexStateError(f"index {self.folder}/ keeps changing while being opened; try again")

    def _verify(self, manifest: dict[str, Any]) -> None:
        for rel, digest in manifest["checksums"].items():
            path = self.folder / rel
            if not path.is_file():
                raise FileNotFoundError(2, "missing", str(path))
            if _sha256(path) != digest:
                raise IndexStateError(f"index file {path} is corrupt or truncated (checksum mismatch); "
                                      f"delete {self.folder}/ and run `rag ingest` again")

    def _load(self, m: dict[str, Any]) -> Loaded:
        import faiss
        self._verify(m)
        data = m["data"]
        n = int(m["count"])
        chunks = []
        shared: dict[str, str] = {}   # one string object per distinct title, path, question ... (~50 chunks share each)
        with open(self.folder / data["chunks"], encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                for key in SHARED_FIELDS:
                    v = d.get(key)
                    if isinstance(v, str):
                        d[key] = shared.setdefault(v, v)
                chunks.append(Chunk.from_dict(d))
        vectors = np.load(self.folder / data["vectors"], mmap_mode="r", allow_pickle=False)
        faiss_index = faiss.read_index(str(self.folder / data["faiss"]))
        lexical = Lexical.load(self.folder / data["bm25"], n)
        e = int(m.get("embedded", n))   # rows with vectors: the first e (before two-phase ingest: all)
        if not (len(chunks) == n and faiss_index.ntotal <= vectors.shape[0] == e <= n):
            raise IndexStateError(f"index {self.folder}/ is inconsistent ({len(chunks)} chunks, {vectors.shape[0]} vectors, "
                                  f"{faiss_index.ntotal} in FAISS, manifest says {n} chunks, {e} embedded); "
                                  f"delete it and run `rag ingest` again")
        windows = None
        if "windows" in data:
            matrix = np.load(self.folder / data["windows"], mmap_mode="r", allow_pickle=False)
            owner = np.load(self.folder / data["wrows"], allow_pickle=False)
            wfaiss = faiss.read_index(str(self.folder / data["wfaiss"]))
            if not (len(matrix) == len(owner) == wfaiss.ntotal and e == n and (not len(owner) or owner[-1] < n)):
                raise IndexStateError(f"index {self.folder}/ has inconsistent sentence windows ({len(matrix)} vectors, "
                                      f"{len(owner)} rows, {wfaiss.ntotal} in FAISS); delete it and run `rag ingest` again")
            windows = (matrix, owner, wfaiss)
        return Loaded(m, chunks, vectors, faiss_index, lexical, windows)

    def write_windows(self, current_gen: Loaded, owner: np.ndarray, dim: int, fill, width: int,
                      on_rows=None) -> Loaded:
        """A generation with `current_gen`'s files linked and sentence windows added: `fill(matrix)` writes the
        float32 window vectors into a memory map of len(owner) rows (in blocks: the whole matrix is never in
        memory), `owner` the chunk row of each. Call with the lock held; a failure leaves `current_gen` in force."""
        try:
            return self._write_windows(current_gen, owner, dim, fill, width, on_rows)
        except OSError as e:
            raise IndexStateError(f"could not write the index in {self.folder}/ ({e.strerror or e}); "
                                  f"the previous index is unchanged") from e

    def _write_windows(self, current_gen, owner, dim, fill, width, on_rows) -> Loaded:
        import faiss
        old = current_gen.manifest
        g = int(old.get("generation", 0)) + 1
        names = _names(g)
        self._clear(names)
        checksums = self._link_files(old, names, ("chunks", "vectors", "faiss", "bm25"))
        p = self.folder / names["windows"]
        matrix = np.lib.format.open_memmap(p, mode="w+", dtype=np.float32, shape=(len(owner), dim))
        fill(matrix)
        matrix.flush()
        del matrix
        with open(self.folder / names["wrows"], "wb") as f:
            np.save(f, np.asarray(owner, dtype=np.int64), allow_pickle=False)
        total = len(owner)
        wfaiss = grow_faiss_index(None, total, dim, lambda start: _row_blocks(p, start, total), on_rows)
        faiss.write_index(wfaiss, str(self.folder / names["wfaiss"]))
        written = [self.folder / names[k] for k in _WINDOW_KINDS]
        for q in written:
            _fsync_file(q)
        _fsync_dir(self.folder / names["bm25"])
        checksums.update({str(q.relative_to(self.folder)): _sha256(q) for q in written})
        new = dict(old)
        # window_sentences stays with every later generation: the index keeps its windows (computed again on a write)
        new.update(generation=g, data=names, checksums=checksums, windows={"sentences": width, "count": total},
                   window_sentences=width,
                   updated=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self._switch(new, g)
        windows = (np.load(p, mmap_mode="r", allow_pickle=False), np.asarray(owner, dtype=np.int64), wfaiss)
        return Loaded(new, current_gen.chunks, np.load(self.folder / names["vectors"], mmap_mode="r",
                                                       allow_pickle=False),
                      current_gen.faiss_index, current_gen.lexical, windows)

    def _clear(self, names: dict[str, str]) -> None:
        """Delete these files of a generation not yet in force: leftovers of a writer that crashed at it."""
        for name in names.values():
            p = self.folder / name
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)

    def _link_files(self, old: dict[str, Any], names: dict[str, str], kinds) -> dict[str, str]:
        """Link `kinds` of the generation `old` under `names` (a folder file by file); their checksums carry over."""
        checksums: dict[str, str] = {}
        for kind in kinds:
            src, dst = self.folder / old["data"][kind], self.folder / names[kind]
            if src.is_dir():
                dst.mkdir()
                for f in sorted(src.iterdir()):
                    _link(f, dst / f.name)
            else:
                _link(src, dst)
        for rel, digest in old["checksums"].items():   # same bytes: the checksums carry over
            for kind in kinds:
                if rel == old["data"][kind] or rel.startswith(old["data"][kind] + "/"):
                    checksums[names[kind] + rel[len(old["data"][kind]):]] = digest
        return checksums

    def _switch(self, new: dict[str, Any], g: int) -> None:
        """Make `new` the manifest (atomically), then delete generations older than g - 1."""
        tmp = self.folder / f"{MANIFEST}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(new, f, ensure_ascii=False, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.manifest_path)
        _fsync_dir(self.folder)
        self._remove_stale(keep={g, g - 1})

    # -- writing --------------------------------------------------------------
    def write(self, manifest: dict[str, Any], chunks: list[Chunk], vectors: np.ndarray,
              lexical_texts: Optional[list[str]], previous_faiss=None, same_rows: Optional[Loaded] = None,
              graph: bool = True, on_graph_rows=None) -> Loaded:
        """Write a new generation and switch the manifest to it. Call with the lock held.

        `vectors` are those of the first len(vectors) rows. `same_rows`: the current generation, when the
        chunks are exactly its chunks (only vectors are added): its chunk and BM25 files are linked, not
        rewritten (`lexical_texts` is then not needed), and `vectors` are only the rows added after its own,
        appended to a copy of its vector file (the whole matrix is never in memory). With `graph=False` its
        FAISS file is linked too (the added rows are searched exactly); with `graph=True` its graph is grown by
        every row it lacks (`on_graph_rows(n)` after each block). Any failure before the switch leaves the
        previous generation in force (and its files untouched)."""
        try:
            return self._write(manifest, chunks, vectors, lexical_texts, previous_faiss, same_rows, graph,
                               on_graph_rows)
        except OSError as e:
            raise IndexStateError(f"could not write the index in {self.folder}/ ({e.strerror or e}); "
                                  f"the previous index is unchanged") from e

    def _write(self, manifest, chunks, vectors, lexical_texts, previous_faiss=None, same_rows=None, graph=True,
               on_graph_rows=None) -> Loaded:
        import faiss
        self.folder.mkdir(parents=True, exist_ok=True)
        g = int(manifest.get("generation", 0)) + 1
        every = _names(g)
        self._clear(every)
        names = {k: v for k, v in every.items() if k not in _WINDOW_KINDS}

        written: list[Path] = []   # new files, to fsync and checksum
        checksums: dict[str, str] = {}
        if same_rows is not None:
            old = same_rows.manifest
            checksums.update(self._link_files(old, names, ("chunks", "bm25") if graph else ("chunks", "bm25", "faiss")))
            lexical = same_rows.lexical
            p = self.folder / names["vectors"]
            total, dim = _append_rows(self.folder / old["data"]["vectors"], vectors, p)
            written.append(p)
            vectors = None   # the new file, memory-mapped once it is synced
            faiss_index = same_rows.faiss_index
            if graph:
                faiss_index = grow_faiss_index(faiss_index, total, dim,
                                               lambda start, path=p: _row_blocks(path, start, total), on_graph_rows)
        else:
            p = self.folder / names["chunks"]
            with open(p, "w", encoding="utf-8") as f:
                for c in chunks:
                    f.write(json.dumps(c.to_dict(), ensure_ascii=False) + "\n")
            written.append(p)
            lexical = Lexical.build(lexical_texts or [])
            written += lexical.save(self.folder / names["bm25"])
            p = self.folder / names["vectors"]
            with open(p, "wb") as f:
                np.save(f, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
            written.append(p)
            faiss_index = make_faiss_index(vectors, previous=previous_faiss)
        if same_rows is None or graph:
            faiss.write_index(faiss_index, str(self.folder / names["faiss"]))
            written.append(self.folder / names["faiss"])
        for p in written:
            _fsync_file(p)
        _fsync_dir(self.folder / names["bm25"])
        checksums.update({str(p.relative_to(self.folder)): _sha256(p) for p in written})
        if vectors is None:
            vectors = np.load(self.folder / names["vectors"], mmap_mode="r", allow_pickle=False)

        new = dict(manifest)
        new.pop("windows", None)   # chunks or vectors change: the windows are computed again (rag.indexing.index)
        new.update(format=FORMAT_VERSION, generation=g, count=len(chunks), embedded=int(len(vectors)), data=names,
                   updated=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), checksums=checksums)
        self._switch(new, g)
        return Loaded(new, chunks, vectors, faiss_index, lexical)

    def _remove_stale(self, keep: set[int]) -> None:
        for p in self.folder.iterdir():
            m = _GEN_FILE.match(p.name)
            if m and int(m.group(2)) not in keep:
                with contextlib.suppress(OSError):
                    shutil.rmtree(p) if p.is_dir() else p.unlink()
