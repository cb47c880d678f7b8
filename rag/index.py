"""The `Index`: build, open, update and search an index folder.

    index = Index.build(["data/briefings"], path="index/")   # create or update
    index = Index.open("index/")                              # read an existing one
    index.add(["more/"]); index.remove(["more/old.txt"])
    hits = index.search("what was said about Taiwan?", k=5, speaker="official")

Incremental updates: a file whose fingerprint (bytes and user metadata) is
unchanged is not even re-read; a changed file's chunks are replaced; a file
gone from a re-ingested folder, or removed with `remove`, loses its chunks.
Vectors are reused for every chunk whose embedding text is already in the
index, so re-ingesting an unchanged corpus embeds nothing. The same transcript
under two names is indexed once (the second is recorded as a duplicate and
takes over if the first is removed).
"""
from __future__ import annotations

import hashlib
import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

import numpy as np

from rag.embed import DEFAULT_MODEL_NAME, Embedder, model_identity, resolve_backend
from rag.errors import IndexStateError, InputError
from rag.lexical import TOKENIZER_VERSION
from rag.records import Chunk, Hit, Transcript
from rag.retrieve import Columns, Filters
from rag.retrieve import search as _search
from rag.store import FORMAT_VERSION, Store, make_faiss_index

PathLike = Union[str, os.PathLike]
EMBED_BATCH = 512   # texts per encode call: the encoders sort each call by length, so bigger calls pad less
CHECKPOINT_CHUNKS = 4096   # commit a new generation after this many freshly embedded chunks (RAG_CHECKPOINT_CHUNKS)


def lexical_text(chunk: Chunk) -> str:
    """What BM25 indexes: who speaks, their words, and the question they answer."""
    return "\n".join(x for x in (chunk.speaker, chunk.text, chunk.question) if x)


def _content_key(c: Chunk) -> str:
    """Everything the embedding text is made of."""
    return hashlib.sha256("\x1f".join(x or "" for x in (c.question_speaker, c.question, c.speaker, c.text))
                          .encode("utf-8")).hexdigest()


def _fingerprint(path: Path) -> str:
    from rag import ingest
    return ingest.fingerprint(path)


def _key(path: PathLike) -> str:
    """Identity of a file in the index: its absolute path (symlinks kept, so two names stay two files)."""
    return os.path.abspath(os.fspath(path))


def _under(key: str, roots: Iterable[str]) -> bool:
    return any(key == r or key.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


@dataclass
class IngestReport:
    """What an `add` or `remove` did."""
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (path, path of the identical transcript)
    skipped: list[tuple[str, str]] = field(default_factory=list)     # (path, reason)
    chunks_embedded: int = 0
    chunks_reused: int = 0
    chunks_total: int = 0
    documents_total: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["duplicates"] = [{"path": p, "same_as": q} for p, q in self.duplicates]
        d["skipped"] = [{"path": p, "reason": r} for p, r in self.skipped]
        return d


@dataclass
class _View:
    """One consistent state of the index, swapped in whole so concurrent searches never see a mix."""
    manifest: dict[str, Any]
    chunks: list[Chunk]
    vectors: np.ndarray
    faiss_index: Any
    lexical: Any
    embedder: Embedder
    columns: Columns
    title_words: Optional[set] = None   # words of the briefing titles, made on first use (Index.mentions)


class Index:
    def __init__(self, path: PathLike, model: Optional[str] = None, backend: Optional[str] = None,
                 store: Optional[str] = None):
        """Use `Index.open` or `Index.build`. `backend`: torch | onnx | onnx-int8 (rag.embed.resolve_backend);
        `store`: a Milvus URI to keep the vectors in (rag.milvus_store), else FAISS in the folder."""
        self.path = Path(path)
        self.store = Store(self.path)
        self._model_spec = model
        self._backend_spec = backend
        self._store_uri = store
        self._milvus = None
        self._write_lock = threading.Lock()
        self._view: Optional[_View] = None
        self._embedder: Optional[Embedder] = None
        self.last_report: Optional[IngestReport] = None

    # -- opening --------------------------------------------------------------
    @classmethod
    def open(cls, path: PathLike = "index", model: Optional[str] = None, backend: Optional[str] = None) -> "Index":
        """Open an existing index. `model` and `backend`, if given, must be those the index was built with."""
        index = cls(path, model, backend)
        index._install(index.store.load())
        return index

    @classmethod
    def build(cls, paths: Sequence[PathLike], path: PathLike = "index", model: Optional[str] = None,
              progress: Optional[bool] = None, backend: Optional[str] = None, store: Optional[str] = None) -> "Index":
        """Index `paths` into the folder `path`, creating it or updating what is already there."""
        index = cls(path, model, backend, store)
        if index.store.exists():
            index._install(index.store.load())
        else:
            index._install_empty()
        index.add(paths, progress=progress)
        return index

    def _check(self, m: dict[str, Any]) -> None:
        from rag.chunker import CHUNKER_VERSION
        built = (m.get("embedding") or {}).get("name")
        if self._model_spec is not None and built and model_identity(self._model_spec)[0] != built:
            raise IndexStateError(f"index {self.path}/ was built with embedding model {built!r}, not "
                                  f"{model_identity(self._model_spec)[0]!r}; use a new --index folder for another model")
        built_backend = (m.get("embedding") or {}).get("backend") or "torch"
        if self._backend_spec is not None and resolve_backend(self._backend_spec) != built_backend:
            raise IndexStateError(f"index {self.path}/ was built with embedding backend {built_backend!r}, not "
                                  f"{resolve_backend(self._backend_spec)!r}: another backend gives different vectors; "
                                  f"use a new --index folder")
        if self._store_uri and m.get("vector_store") != self._store_uri and m.get("count"):
            raise IndexStateError(f"index {self.path}/ keeps its vectors in {m.get('vector_store') or 'its folder (FAISS)'}, "
                                  f"not {self._store_uri}; use a new --index folder for another store")
        chunker = (m.get("chunker") or {}).get("version")
        if chunker != CHUNKER_VERSION:
            raise IndexStateError(f"index {self.path}/ was built with chunker version {chunker!r}, this version of rag "
                                  f"uses {CHUNKER_VERSION!r}; delete {self.path}/ and run `rag ingest` again")
        lex = (m.get("lexical") or {}).get("tokenizer")
        if lex != TOKENIZER_VERSION:
            raise IndexStateError(f"index {self.path}/ has a BM25 index of tokenizer {lex!r}, this version uses "
                                  f"{TOKENIZER_VERSION!r}; delete {self.path}/ and run `rag ingest` again")

    def _install(self, loaded) -> None:
        m = loaded.manifest
        self._check(m)
        if self._embedder is None:
            spec = self._model_spec if self._model_spec is not None else m["embedding"]["name"]
            self._embedder = Embedder(None if spec == DEFAULT_MODEL_NAME else spec,
                                      backend=(m.get("embedding") or {}).get("backend") or "torch")
        self._view = _View(m, loaded.chunks, loaded.vectors, loaded.faiss_index, loaded.lexical,
                           self._embedder, Columns(loaded.chunks))
        if m.get("vector_store"):
            from rag.milvus_store import MilvusVectors
            if self._milvus is None or str(self._milvus.spec_text) != m["vector_store"]:
                self._milvus = MilvusVectors(m["vector_store"])
            self._view.milvus = self._milvus

    def _install_empty(self) -> None:
        from rag.chunker import CHUNKER_VERSION
        self._embedder = Embedder(self._model_spec, backend=self._backend_spec)
        m = {"format": FORMAT_VERSION, "generation": 0,
             "embedding": {"name": self._embedder.name, "dim": None, "backend": self._embedder.backend},
             "chunker": {"version": CHUNKER_VERSION}, "lexical": {"tokenizer": TOKENIZER_VERSION},
             "count": 0, "files": {}}
        if self._store_uri:
            from rag.milvus_store import MilvusVectors
            self._milvus = MilvusVectors(self._store_uri)   # checks the URI now
            m["vector_store"] = self._store_uri
        from rag.lexical import Lexical
        self._view = _View(m, [], np.zeros((0, 1), np.float32), make_faiss_index(np.zeros((0, 1), np.float32)),
                           Lexical(None, 0), self._embedder, Columns([]))

    def refresh(self) -> bool:
        """Pick up changes another process committed; True if the index changed. Cheap when nothing did."""
        try:
            st = self.store.manifest_path.stat()
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = None
        if stamp is not None and stamp == getattr(self, "_manifest_stamp", None):
            return False
        self._manifest_stamp = stamp
        m = self.store.read_manifest()
        if self._view is not None and m.get("generation") == self._view.manifest.get("generation"):
            return False
        self._install(self.store.load(m))
        return True

    # -- what is inside -------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        """The embedding model; it loads on first use (searching or embedding), not when the index opens."""
        return self._embedder

    def _loaded_embedder(self) -> Embedder:
        """The embedder with its model loaded and its dimension checked against the index."""
        e = self._embedder
        dim = self._view.manifest["embedding"].get("dim") if self._view else None
        if dim is not None and e.dim != dim:
            raise IndexStateError(f"index {self.path}/ holds {dim}-dimensional vectors but model {e.name!r} makes "
                                  f"{e.dim}-dimensional ones; use the model the index was built with")
        return e

    @property
    def chunks(self) -> list[Chunk]:
        return self._view.chunks

    @property
    def manifest(self) -> dict[str, Any]:
        return self._view.manifest

    @property
    def documents(self) -> list[dict[str, Any]]:
        """One entry per indexed file: path, fingerprint, doc_id, title, chunk_ids, duplicate_of."""
        return [dict(v, key=k) for k, v in self._view.manifest["files"].items()]

    def mentions(self, word: str) -> bool:
        """Whether the index holds `word` anywhere: in a passage, a question, a speaker label (BM25's stemmed
        vocabulary) or a briefing title. Costs a dictionary lookup, at any index size."""
        view = self._view
        if view.lexical.knows(word):
            return True
        if view.title_words is None:
            from rag.verify import words
            view.title_words = {w for d in view.manifest["files"].values() for w in words(d.get("title") or "")}
        return word.lower() in view.title_words

    def __len__(self) -> int:
        return len(self._view.chunks)

    def __repr__(self) -> str:
        return f"Index({str(self.path)!r}, {len(self)} chunks)"

    # -- search ---------------------------------------------------------------
    def search(self, query: str, k: int = 5, mode: str = "hybrid", speaker=None, publisher=None, kind=None,
               date_from=None, date_to=None) -> list[Hit]:
        view = self._view
        if mode != "bm25" and len(view.chunks):
            self._loaded_embedder()
        return _search(view, query, k=k, mode=mode, filters=Filters(speaker, publisher, kind, date_from, date_to))

    def ask(self, question: str, history=None, k: int = 5, **filters):
        from rag import answer
        return answer.ask(self, question, history=history, k=k, **filters)

    def ask_stream(self, question: str, history=None, k: int = 5, **filters):
        from rag import answer
        return answer.ask_stream(self, question, history=history, k=k, **filters)

    # -- updating -------------------------------------------------------------
    def add(self, paths: Sequence[PathLike], progress: Optional[bool] = None) -> IngestReport:
        """Index new and changed files under `paths`; drop files gone from a re-ingested folder.

        A file that cannot be read keeps what was indexed of it; a file that now reads but no longer
        parses as a transcript loses its old chunks (the index follows the files); both are reported
        in `skipped`."""
        from rag import ingest
        paths = _as_list(paths)
        report = IngestReport()
        with self._updating() as files:
            found, errors = _find(ingest, paths)
            report.skipped += [(e.path, e.reason) for e in errors]
            seen, changed = set(), []
            for p in found:
                key = _key(p)
                if key in seen:
                    continue
                seen.add(key)
                try:
                    fp = _fingerprint(Path(p))
                except InputError as e:   # unreadable, too large, not a regular file: an indexed copy stays
                    report.skipped.append((e.path, e.reason))
                    continue
                except OSError as e:
                    report.skipped.append((str(p), f"unreadable: {e.strerror or e}"))
                    continue
                if key in files and files[key].get("fingerprint") == fp:
                    report.unchanged += 1
                else:
                    changed.append((key, str(p), fp))
            folders = [_key(p) for p in paths if os.path.isdir(p)]
            gone = {k for k in files if k not in seen and _under(k, folders) and not os.path.lexists(k)}
            self._apply(gone, changed, report, progress)
        self.last_report = report
        return report

    @contextmanager
    def _updating(self):
        """The one writer's section (thread lock + the folder's file lock), on the newest generation on disk;
        yields its files table."""
        with self._write_lock, self.store.lock():
            self._reload_if_changed()
            yield self._view.manifest["files"]

    def remove(self, paths: Sequence[PathLike], progress: Optional[bool] = None) -> IngestReport:
        """Remove files (or every file under folders) from the index; the files themselves are untouched."""
        paths = _as_list(paths)
        report = IngestReport()
        with self._updating() as files:
            gone = set()
            for p in paths:
                hit = {k for k in files if _under(k, [_key(p)])}
                if not hit:
                    report.skipped.append((str(p), "not in the index"))
                gone |= hit
            self._apply(gone, [], report, progress)
        self.last_report = report
        return report

    def _reload_if_changed(self) -> None:
        if self.store.exists():
            m = self.store.read_manifest()
            if m.get("generation") != self._view.manifest.get("generation"):
                self._install(self.store.load(m))

    def _apply(self, gone: set[str], changed: list[tuple[str, str, str]], report: IngestReport,
               progress: Optional[bool]) -> None:
        """Remove `gone` files, (re)index `changed` ones, write a new generation if anything differs."""
        from rag import ingest
        view = self._view
        old_files: dict[str, dict] = view.manifest["files"]
        changed_keys = {k for k, _, _ in changed}
        files = {k: dict(v) for k, v in old_files.items() if k not in gone and k not in changed_keys}
        report.removed += [old_files[k]["path"] for k in sorted(gone)]

        # Duplicates of a file that is gone or changing lose their original: re-read them.
        for k, v in list(files.items()):
            if v.get("duplicate_of") in gone or v.get("duplicate_of") in changed_keys:
                changed.append((k, v["path"], v.get("fingerprint", "")))
                del files[k]

        keep_ids = {cid for v in files.values() for cid in v["chunk_ids"]}
        owner_of_doc = {v["doc_id"]: k for k, v in files.items() if not v.get("duplicate_of")}
        changed.sort(key=lambda x: x[0] not in old_files)  # a file already indexed keeps its documents
        entries: list[tuple[str, dict, list[Chunk]]] = []
        for key, shown, fp in changed:
            try:
                t: Transcript = ingest.read_transcript(Path(shown))
            except InputError as e:
                report.skipped.append((e.path, e.reason))
                continue
            except Exception as e:  # a parser bug must not stop the other files
                report.skipped.append((shown, f"could not be parsed ({type(e).__name__}: {e})"))
                continue
            entry = {"path": shown, "fingerprint": fp, "doc_id": t.doc_id, "title": t.title,
                     "content_hash": t.content_hash, "chunk_ids": [], "duplicate_of": None}
            (report.updated if key in old_files else report.added).append(shown)
            chunks: list[Chunk] = []
            if t.doc_id in owner_of_doc:
                entry["duplicate_of"] = owner_of_doc[t.doc_id]
                owner = owner_of_doc[t.doc_id]
                report.duplicates.append((shown, (files.get(owner) or next(e for k, e, _ in entries if k == owner))["path"]))
            else:
                chunks = self._chunker().chunk(t)
                entry["chunk_ids"] = [c.chunk_id for c in chunks]
                owner_of_doc[t.doc_id] = key
            entries.append((key, entry, chunks))

        kept_rows = [i for i, c in enumerate(view.chunks) if c.chunk_id in keep_ids]
        new_ids = [c.chunk_id for _, _, cs in entries for c in cs]
        if ([view.chunks[i].chunk_id for i in kept_rows] + new_ids == [c.chunk_id for c in view.chunks]
                and {**files, **{k: e for k, e, _ in entries}} == old_files):
            self._finish_report(report, view)   # nothing differs: no write at all
            return

        # The embedding text is a function of (question_speaker, question, speaker, text) for a fixed chunker
        # version and model (both pinned by the manifest): a chunk with the same content reuses its vector.
        known = {_content_key(c): i for i, c in enumerate(view.chunks)} if new_ids else {}
        todo = {}
        for _, _, cs in entries:
            for c in cs:
                k = _content_key(c)
                if k not in known:
                    todo.setdefault(k, c)
        report.chunks_embedded += len(todo)
        report.chunks_reused += len(new_ids) - len(todo)
        base_chunks = [view.chunks[i] for i in kept_rows]
        base_vectors = np.asarray(view.vectors[kept_rows], dtype=np.float32) if kept_rows else None
        fresh: dict[str, np.ndarray] = {}
        checkpoint = int(os.environ.get("RAG_CHECKPOINT_CHUNKS", CHECKPOINT_CHUNKS))
        bar = self._bar(len(todo), progress)
        try:
            done_files, done_chunks, pending = dict(files), list(base_chunks), []
            for n, (key, entry, cs) in enumerate(entries):
                done_files[key] = entry
                done_chunks += cs
                pending += [k for k in (_content_key(c) for c in cs) if k in todo and k not in fresh]
                last = n == len(entries) - 1
                # a fixed interval when RAG_CHECKPOINT_CHUNKS is set, else growing with the index
                # (each checkpoint rewrites everything so far: a fixed interval would be quadratic)
                every = checkpoint if "RAG_CHECKPOINT_CHUNKS" in os.environ else max(checkpoint, len(done_chunks) // 4)
                if not last and len(pending) < every:
                    continue
                pending = list(dict.fromkeys(pending))
                for i in range(0, len(pending), EMBED_BATCH):
                    batch = pending[i:i + EMBED_BATCH]
                    vecs = self._loaded_embedder().encode([self._chunker().embedding_text(todo[k]) for k in batch])
                    fresh.update(zip(batch, vecs))
                    bar.update(len(batch))
                pending = []
                # Commit: a checkpoint every `checkpoint` embedded chunks, so a killed ingest keeps its work.
                vectors = self._assemble(view, base_vectors, done_chunks[len(base_chunks):], known, fresh)
                manifest = dict(view.manifest, files=dict(done_files))
                manifest["embedding"] = {"name": self._embedder.name, "dim": int(vectors.shape[1]),
                                         "backend": self._embedder.backend}
                previous = self._view.faiss_index if self._view.manifest.get("generation") else None
                self._install(self.store.write(manifest, done_chunks, vectors, [lexical_text(c) for c in done_chunks],
                                               previous_faiss=previous))
                self._sync_vector_store()
            if not entries:  # removals only
                vectors = self._assemble(view, base_vectors, [], known, fresh)
                manifest = dict(view.manifest, files=dict(files))
                self._install(self.store.write(manifest, base_chunks, vectors, [lexical_text(c) for c in base_chunks]))
                self._sync_vector_store()
        finally:
            bar.close()
        self._finish_report(report, self._view)

    def _sync_vector_store(self) -> None:
        """Make the Milvus collection (if the index keeps its vectors there) hold this generation's vectors."""
        if self._milvus is not None and self._view.manifest.get("vector_store"):
            self._milvus.sync(self._view.chunks, np.asarray(self._view.vectors, dtype=np.float32))

    def _assemble(self, view: _View, base_vectors: Optional[np.ndarray], new_chunks: list[Chunk],
                  known: dict[str, int], fresh: dict[str, np.ndarray]) -> np.ndarray:
        """Vectors of kept rows followed by those of `new_chunks` (reused by content, else freshly embedded)."""
        if base_vectors is not None:
            dim = base_vectors.shape[1]
        elif fresh:
            dim = len(next(iter(fresh.values())))
        elif len(view.chunks):
            dim = view.vectors.shape[1]
        else:
            dim = self._loaded_embedder().dim
        nb = 0 if base_vectors is None else len(base_vectors)
        out = np.empty((nb + len(new_chunks), dim), dtype=np.float32)
        if nb:
            out[:nb] = base_vectors
        for j, c in enumerate(new_chunks):
            k = _content_key(c)
            out[nb + j] = fresh[k] if k in fresh else view.vectors[known[k]]
        return out

    @staticmethod
    def _bar(total: int, progress: Optional[bool]):
        from tqdm.auto import tqdm
        show = (sys.stderr.isatty() if progress is None else progress) and total > 0
        return tqdm(total=total, unit="chunk", desc="embedding", disable=not show, file=sys.stderr,
                    dynamic_ncols=True, smoothing=0.1)

    def _chunker(self):
        """The chunker sized to the embedding model (the default model's tokenizer loads without its weights)."""
        from rag.chunker import Chunker
        if getattr(self, "_chunker_obj", None) is None:
            if self._embedder.name == DEFAULT_MODEL_NAME:
                self._chunker_obj = Chunker()
            else:
                e = self.embedder
                self._chunker_obj = Chunker(tokenizer=e.tokenizer, max_tokens=min(256, e.max_seq_length))
        return self._chunker_obj

    @staticmethod
    def _finish_report(report: IngestReport, view: _View) -> None:
        report.chunks_total = len(view.chunks)
        report.documents_total = sum(1 for v in view.manifest["files"].values() if not v.get("duplicate_of"))


def _as_list(paths) -> list:
    return [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)


def _find(ingest, paths) -> tuple[list[Path], list[InputError]]:
    """Files under `paths` and the errors met finding them (a missing path, a symlink loop ...)."""
    errors: list[InputError] = []
    files = ingest.find_files(paths, errors=errors)
    return [Path(f) for f in files], errors
