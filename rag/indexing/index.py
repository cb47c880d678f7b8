"""The `Index`: build, open, update, search and ask over an index folder (a thin facade over the stages).
Takes transcript paths and questions; gives an index on disk, `Hit`s, `Answer`s and `IngestReport`s.

    index = Index.build(["data/briefings"], path="index/")   # create or update
    index = Index.open("index/")                              # read an existing one
    index.add(["more/"]); index.remove(["more/old.txt"])
    hits = index.search("what was said about Taiwan?", k=5, speaker="official")

Incremental updates (rag.indexing.updates): unchanged files are not re-read, changed files' chunks are
replaced, vectors are reused by content, so re-ingesting an unchanged corpus embeds nothing.
"""
from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
from tqdm.auto import tqdm

from rag import answer
from rag.encoders import DEFAULT_MODEL_NAME, Embedder, model_identity, resolve_backend
from rag.encoders.tuning import TuneReport, exchange_pairs, fine_tune
from rag.errors import IndexStateError
from rag.indexing import updates
from rag.indexing.ann import make_faiss_index
from rag.indexing.lexical import TOKENIZER_VERSION, Lexical
from rag.indexing.milvus import MilvusRanking, MilvusVectors   # pymilvus itself loads only when used
from rag.indexing.store import FORMAT_VERSION, Loaded, Store
from rag.indexing.updates import IngestReport, content_key, lexical_text
from rag.indexing.vectors import FaissVectors
from rag.ingest import CHUNKER_VERSION, Chunker
from rag.lexicon import words
from rag.records import Chunk, Hit
from rag.retrieval import Columns, Filters, IndexView
from rag.retrieval import search as _search
from rag.settings import current

PathLike = Union[str, os.PathLike]


class Index:
    def __init__(self, path: PathLike, model: Optional[str] = None, backend: Optional[str] = None,
                 store: Optional[str] = None):
        """Use `Index.open` or `Index.build`. `backend`: torch | onnx | onnx-int8 (rag.encoders.resolve_backend);
        `store`: a Milvus URI to keep the vectors in (rag.indexing.milvus), else FAISS in the folder."""
        self.path = Path(path)
        self.store = Store(self.path)
        self._model_spec = model
        self._backend_spec = backend
        self._store_uri = store
        self._milvus = None
        self._write_lock = threading.Lock()
        self._view: Optional[IndexView] = None
        self._faiss: Optional[FaissVectors] = None
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

    def _install(self, loaded: Loaded) -> None:
        m = loaded.manifest
        self._check(m)
        if self._embedder is None:
            spec = self._model_spec if self._model_spec is not None else m["embedding"]["name"]
            self._embedder = Embedder(None if spec == DEFAULT_MODEL_NAME else spec,
                                      backend=(m.get("embedding") or {}).get("backend") or "torch")
        self._faiss = FaissVectors(loaded.faiss_index, loaded.vectors)
        columns = Columns(loaded.chunks)
        dense = self._faiss
        if m.get("vector_store"):
            if self._milvus is None or str(self._milvus.spec_text) != m["vector_store"]:
                self._milvus = MilvusVectors(m["vector_store"])
            dense = MilvusRanking(self._milvus, loaded.chunks, columns, loaded.vectors)
        self._view = IndexView(m, loaded.chunks, columns, loaded.lexical, dense, self._embedder)

    def _install_empty(self) -> None:
        self._embedder = Embedder(self._model_spec, backend=self._backend_spec)
        m = {"format": FORMAT_VERSION, "generation": 0,
             "embedding": {"name": self._embedder.name, "dim": None, "backend": self._embedder.backend},
             "chunker": {"version": CHUNKER_VERSION}, "lexical": {"tokenizer": TOKENIZER_VERSION},
             "count": 0, "files": {}}
        if self._store_uri:
            self._milvus = MilvusVectors(self._store_uri)   # checks the URI now
            m["vector_store"] = self._store_uri
        empty = np.zeros((0, 1), np.float32)
        self._faiss = FaissVectors(make_faiss_index(empty), empty)
        self._view = IndexView(m, [], Columns([]), Lexical(None, 0), self._faiss, self._embedder)

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

    @property
    def view(self) -> IndexView:
        """The current state searched (rag.retrieval.IndexView)."""
        return self._view

    @property
    def vectors(self) -> np.ndarray:
        """The vector rows of the current generation (row i = chunk i), memory-mapped."""
        return self._faiss.matrix

    @property
    def milvus(self) -> Optional[MilvusVectors]:
        """The Milvus collection holding the vectors, when the index keeps them there (else None)."""
        return self._milvus if self._view.manifest.get("vector_store") else None

    @property
    def faiss_index(self):
        """The FAISS index of the current generation (exact or HNSW, rag.indexing.ann)."""
        return self._faiss.faiss_index

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
        if "title_words" not in view.cache:
            view.cache["title_words"] = {w for d in view.manifest["files"].values() for w in words(d.get("title") or "")}
        return word.lower() in view.cache["title_words"]

    def __len__(self) -> int:
        return len(self._view.chunks)

    def __repr__(self) -> str:
        return f"Index({str(self.path)!r}, {len(self)} chunks)"

    # -- search and answers ---------------------------------------------------
    def search(self, query: str, k: int = 5, mode: str = "hybrid", speaker=None, publisher=None, kind=None,
               date_from=None, date_to=None) -> list[Hit]:
        view = self._view
        if mode != "bm25" and len(view.chunks):
            self._loaded_embedder()
        return _search(view, query, k=k, mode=mode, filters=Filters(speaker, publisher, kind, date_from, date_to))

    def ask(self, question: str, history=None, k: int = 5, **filters):
        """A cited answer (rag.answer.ask); the index is the answer's retriever."""
        return answer.ask(self, question, history=history, k=k, **filters)

    def ask_stream(self, question: str, history=None, k: int = 5, **filters):
        """Typed answer events as the answer forms (rag.answer.ask_stream)."""
        return answer.ask_stream(self, question, history=history, k=k, **filters)

    # -- updating -------------------------------------------------------------
    def add(self, paths: Sequence[PathLike], progress: Optional[bool] = None) -> IngestReport:
        """Index new and changed files under `paths`; drop files gone from a re-ingested folder.

        A file that cannot be read keeps what was indexed of it; a file that now reads but no longer
        parses as a transcript loses its old chunks (the index follows the files); both are reported
        in `skipped`."""
        paths = updates.as_list(paths)
        report = IngestReport()
        with self._updating() as files:
            gone, changed = updates.scan(paths, files, report)
            self._apply(gone, changed, report, progress)
        self.last_report = report
        return report

    def remove(self, paths: Sequence[PathLike], progress: Optional[bool] = None) -> IngestReport:
        """Remove files (or every file under folders) from the index; the files themselves are untouched."""
        paths = updates.as_list(paths)
        report = IngestReport()
        with self._updating() as files:
            gone = set()
            for p in paths:
                hit = {k for k in files if updates.under(k, [updates.file_key(p)])}
                if not hit:
                    report.skipped.append((str(p), "not in the index"))
                gone |= hit
            self._apply(gone, [], report, progress)
        self.last_report = report
        return report

    @contextmanager
    def _updating(self):
        """The one writer's section (thread lock + the folder's file lock), on the newest generation on disk;
        yields its files table."""
        with self._write_lock, self.store.lock():
            if self.store.exists():
                m = self.store.read_manifest()
                if m.get("generation") != self._view.manifest.get("generation"):
                    self._install(self.store.load(m))
            yield self._view.manifest["files"]

    def _apply(self, gone: set[str], changed: list[updates.Change], report: IngestReport,
               progress: Optional[bool]) -> None:
        """Remove `gone` files, (re)index `changed` ones, write a new generation if anything differs."""
        view = self._view
        old_files: dict[str, dict] = view.manifest["files"]
        files, entries = updates.read_changes(old_files, gone, changed, report, self._chunker().chunk)
        keep_ids = {cid for v in files.values() for cid in v["chunk_ids"]}
        kept_rows = [i for i, c in enumerate(view.chunks) if c.chunk_id in keep_ids]
        new_ids = [c.chunk_id for _, _, cs in entries for c in cs]
        if ([view.chunks[i].chunk_id for i in kept_rows] + new_ids == [c.chunk_id for c in view.chunks]
                and {**files, **{k: e for k, e, _ in entries}} == old_files):
            self._finish_report(report)   # nothing differs: no write at all
            return
        # The embedding text is a function of (question_speaker, question, speaker, text) for a fixed chunker
        # version and model (both pinned by the manifest): a chunk with the same content reuses its vector.
        known = {content_key(c): i for i, c in enumerate(view.chunks)} if new_ids else {}
        todo: dict[str, Chunk] = {}
        for _, _, cs in entries:
            for c in cs:
                if content_key(c) not in known:
                    todo.setdefault(content_key(c), c)
        report.chunks_embedded += len(todo)
        report.chunks_reused += len(new_ids) - len(todo)
        base = [view.chunks[i] for i in kept_rows]
        base_vectors = np.asarray(self.vectors[kept_rows], dtype=np.float32) if kept_rows else None
        self._embed_and_commit(files, entries, base, base_vectors, known, todo, progress)
        self._finish_report(report)

    def _embed_and_commit(self, files: dict[str, dict], entries: list[updates.Entry], base: list[Chunk],
                          base_vectors: Optional[np.ndarray], known: dict[str, int], todo: dict[str, Chunk],
                          progress: Optional[bool]) -> None:
        """Embed the `todo` chunks in checkpoints, committing a generation after each (a killed ingest keeps its
        work); removals alone commit once."""
        cfg = current().index
        old_vectors = self.vectors
        fresh: dict[str, np.ndarray] = {}
        bar = self._bar(len(todo), progress)
        try:
            done_files, done_chunks, pending = dict(files), list(base), []
            for n, (key, entry, cs) in enumerate(entries):
                done_files[key] = entry
                done_chunks += cs
                pending += [k for k in (content_key(c) for c in cs) if k in todo and k not in fresh]
                # a fixed interval when RAG_CHECKPOINT_CHUNKS is set, else growing with the index
                # (each checkpoint rewrites everything so far: a fixed interval would be quadratic)
                every = cfg.checkpoint_chunks if cfg.checkpoint_fixed else max(cfg.checkpoint_chunks,
                                                                              len(done_chunks) // 4)
                if n < len(entries) - 1 and len(pending) < every:
                    continue
                pending = list(dict.fromkeys(pending))
                for i in range(0, len(pending), cfg.embed_batch):
                    batch = pending[i:i + cfg.embed_batch]
                    vecs = self._loaded_embedder().encode([self._chunker().embedding_text(todo[k]) for k in batch])
                    fresh.update(zip(batch, vecs))
                    bar.update(len(batch))
                pending = []
                vectors = updates.assemble(base_vectors, done_chunks[len(base):], old_vectors, known, fresh,
                                           self._dim(base_vectors, fresh, old_vectors))
                self._commit(done_files, done_chunks, vectors, incremental=True)
            if not entries:  # removals only
                vectors = updates.assemble(base_vectors, [], old_vectors, known, fresh,
                                           self._dim(base_vectors, fresh, old_vectors))
                self._commit(files, base, vectors, incremental=False)
        finally:
            bar.close()

    def tune(self, epochs: Optional[int] = None, progress: Optional[bool] = None) -> TuneReport:
        """Fine-tune the embedding model on this archive's own exchanges (reporter question -> official answer;
        rag.encoders.tuning), keep it in the index folder, and re-embed every chunk with it (one new generation:
        searches use the old model and vectors until it is committed)."""
        show = sys.stderr.isatty() if progress is None else progress
        with self._updating():
            view = self._view
            folder = self.path.resolve() / "models" / f"tuned-{int(view.manifest.get('generation', 0)) + 1}"
            folder.parent.mkdir(parents=True, exist_ok=True)
            report = fine_tune(self._embedder.source, exchange_pairs(view.chunks), folder,
                               epochs=current().tune.epochs if epochs is None else epochs, progress=show)
            tuned, old = Embedder(str(folder), backend=self._embedder.backend), self._embedder
            texts = [self._chunker().embedding_text(c) for c in view.chunks]
            bar = self._bar(len(texts), show)
            parts = []
            try:
                for i in range(0, len(texts), current().index.embed_batch):
                    parts.append(tuned.encode(texts[i:i + current().index.embed_batch]))
                    bar.update(len(parts[-1]))
                self._embedder, self._model_spec = tuned, None
                self._commit(view.manifest["files"], list(view.chunks), np.vstack(parts), incremental=False,
                             new_model=True)
            except BaseException:
                self._embedder = old   # the previous generation, and its model, stay in force
                raise
            finally:
                bar.close()
        return report

    def _commit(self, files: dict[str, dict], chunks: list[Chunk], vectors: np.ndarray, incremental: bool,
                new_model: bool = False) -> None:
        """Write a generation (the last one's FAISS graph grown, when it only appends) and switch to it."""
        manifest = dict(self._view.manifest, files=dict(files))
        if incremental or new_model:
            manifest["embedding"] = {"name": self._embedder.name, "dim": int(vectors.shape[1]),
                                     "backend": self._embedder.backend}
        previous = self.faiss_index if incremental and self._view.manifest.get("generation") else None
        self._install(self.store.write(manifest, chunks, vectors, [lexical_text(c) for c in chunks],
                                       previous_faiss=previous))
        if self._milvus is not None and self._view.manifest.get("vector_store"):
            self._milvus.sync(self._view.chunks, np.asarray(self.vectors, dtype=np.float32))

    def _dim(self, base_vectors: Optional[np.ndarray], fresh: dict[str, np.ndarray], old_vectors: np.ndarray) -> int:
        if base_vectors is not None:
            return base_vectors.shape[1]
        if fresh:
            return len(next(iter(fresh.values())))
        if len(old_vectors):
            return old_vectors.shape[1]
        return self._loaded_embedder().dim

    @staticmethod
    def _bar(total: int, progress: Optional[bool]):
        show = (sys.stderr.isatty() if progress is None else progress) and total > 0
        return tqdm(total=total, unit="chunk", desc="embedding", disable=not show, file=sys.stderr,
                    dynamic_ncols=True, smoothing=0.1)

    def _chunker(self) -> Chunker:
        """The chunker sized to the embedding model (the default model's tokenizer loads without its weights)."""
        if getattr(self, "_chunker_obj", None) is None:
            if self._embedder.name == DEFAULT_MODEL_NAME:
                self._chunker_obj = Chunker()
            else:
                e = self.embedder
                self._chunker_obj = Chunker(tokenizer=e.tokenizer, max_tokens=min(256, e.max_seq_length))
        return self._chunker_obj

    def _finish_report(self, report: IngestReport) -> None:
        view = self._view
        report.chunks_total = len(view.chunks)
        report.documents_total = sum(1 for v in view.manifest["files"].values() if not v.get("duplicate_of"))
