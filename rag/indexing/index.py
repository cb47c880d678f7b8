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
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple, Optional, Sequence, Union

import numpy as np
from tqdm.auto import tqdm

from rag import answer, ingest
from rag.encoders import DEFAULT_MODEL_NAME, Embedder, model_name, resolve_backend
from rag.encoders.tuning import TuneReport, exchange_pairs, fine_tune
from rag.errors import IndexStateError, InputError, RagError
from rag.indexing import updates
from rag.indexing.ann import make_faiss_index
from rag.indexing.lexical import TOKENIZER_VERSION, Lexical
from rag.indexing.milvus import MilvusRanking, MilvusVectors   # pymilvus itself loads only when used
from rag.indexing.store import FORMAT_VERSION, Loaded, Store
from rag.indexing.updates import IngestReport, VectorProgress, content_key, lexical_text
from rag.indexing.vectors import FaissVectors
from rag.indexing.windows import WindowVectors, chunk_windows
from rag.ingest import CHUNKER_VERSION, Chunker
from rag.records import Chunk, Hit
from rag.retrieval import Columns, Filters, IndexView
from rag.retrieval import search as _search
from rag.retrieval.sentences import query_weights
from rag.settings import current
from rag.survey import survey as _survey

PathLike = Union[str, os.PathLike]


def outdated(manifest: dict[str, Any]) -> Optional[str]:
    """Why an index needs rebuilding in place (written by an older chunker or BM25 tokenizer), or None.
    It is still searched as it is until the upgrade (`Index.upgrade`, or any ingest) commits."""
    reasons = []
    chunker = (manifest.get("chunker") or {}).get("version")
    if chunker != CHUNKER_VERSION:
        reasons.append(f"chunker version {chunker!r} (this version of rag uses {CHUNKER_VERSION!r})")
    lex = (manifest.get("lexical") or {}).get("tokenizer")
    if lex != TOKENIZER_VERSION:
        reasons.append(f"BM25 tokenizer {lex!r} (this version uses {TOKENIZER_VERSION!r})")
    return "; ".join(reasons) or None


class _OldWindows(NamedTuple):
    """The windows of a generation an update replaced, kept to reuse by content (`Index._ensure_windows`)."""
    keys: list[str]             # content key of each chunk row of that generation
    matrix: np.ndarray          # its window vectors (memory map: readable after its files are deleted)
    rows: np.ndarray            # the chunk row of each window
    model: Optional[str]        # the embedding model that made them
    width: int                  # sentences per window


def window_width(manifest: dict[str, Any]) -> int:
    """Sentences per window for this index: its own (once it has windows it keeps them), or the settings'
    (settings.index.window_sentences, RAG_WINDOW_SENTENCES), whichever is set; 0 for none."""
    own = manifest.get("window_sentences") or (manifest.get("windows") or {}).get("sentences") or 0
    return max(int(own), current().index.window_sentences)


def windows_missing(manifest: dict[str, Any]) -> Optional[str]:
    """Why an index whose every passage has its vector lacks the sentence windows it is to have
    (rag.indexing.windows), or None. Computed in place by any write (`Index.upgrade`); a Milvus store has none."""
    width = window_width(manifest)
    n = int(manifest.get("count", 0))
    if width <= 0 or not n or manifest.get("vector_store") or int(manifest.get("embedded", n)) < n:
        return None
    have = (manifest.get("windows") or {}).get("sentences")
    if have == width:
        return None
    return "no sentence windows" if have is None else f"sentence windows of {have} sentences, not {width}"


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
        self._progress: Optional[VectorProgress] = None   # set while phase 2 embeds
        self.outdated: Optional[str] = None   # why the index needs an upgrade (older chunker or BM25 tokenizer)
        self._old_windows: Optional[_OldWindows] = None   # the last windows replaced, to reuse by content

    # -- opening --------------------------------------------------------------
    @classmethod
    def open(cls, path: PathLike = "index", model: Optional[str] = None, backend: Optional[str] = None) -> "Index":
        """Open an existing index. `model` and `backend`, if given, must be those the index was built with."""
        index = cls(path, model, backend)
        index._install(index.store.load())
        return index

    @classmethod
    def build(cls, paths: Sequence[PathLike], path: PathLike = "index", model: Optional[str] = None,
              progress: Optional[bool] = None, backend: Optional[str] = None, store: Optional[str] = None,
              lexical_only: bool = False) -> "Index":
        """Index `paths` into the folder `path`, creating it or updating what is already there (see `add`)."""
        index = cls(path, model, backend, store)
        if index.store.exists():
            index._install(index.store.load())
        else:
            index._install_empty()
        index.add(paths, progress=progress, lexical_only=lexical_only)
        return index

    def _check(self, m: dict[str, Any]) -> None:
        built = (m.get("embedding") or {}).get("name")
        built_backend = (m.get("embedding") or {}).get("backend") or "torch"
        asked = model_name(self._model_spec, resolve_backend(self._backend_spec or built_backend)) \
            if self._model_spec is not None else None
        if asked is not None and built and asked != built:
            raise IndexStateError(f"index {self.path}/ was built with embedding model {built!r}, not "
                                  f"{asked!r}; use a new --index folder for another model")
        if self._backend_spec is not None and resolve_backend(self._backend_spec) != built_backend:
            raise IndexStateError(f"index {self.path}/ was built with embedding backend {built_backend!r}, not "
                                  f"{resolve_backend(self._backend_spec)!r}: another backend gives different vectors; "
                                  f"use a new --index folder")
        if self._store_uri and m.get("vector_store") != self._store_uri and m.get("count"):
            raise IndexStateError(f"index {self.path}/ keeps its vectors in {m.get('vector_store') or 'its folder (FAISS)'}, "
                                  f"not {self._store_uri}; use a new --index folder for another store")
        self.outdated = outdated(m) or windows_missing(m)

    def _install(self, loaded: Loaded) -> None:
        m = loaded.manifest
        self._check(m)
        same_chunks = self._view is not None and loaded.chunks is self._view.chunks   # only vectors were added
        if self._embedder is None:
            spec = self._model_spec if self._model_spec is not None else m["embedding"]["name"]
            self._embedder = Embedder(None if spec == DEFAULT_MODEL_NAME else spec,
                                      backend=(m.get("embedding") or {}).get("backend") or "torch")
        self._faiss = FaissVectors(loaded.faiss_index, loaded.vectors)
        columns = self._view.columns if same_chunks else Columns(loaded.chunks)
        dense = self._faiss
        if m.get("vector_store"):
            if self._milvus is None or str(self._milvus.spec_text) != m["vector_store"]:
                self._milvus = MilvusVectors(m["vector_store"])
            dense = MilvusRanking(self._milvus, loaded.chunks, columns, loaded.vectors)
        prev = self._view
        if prev is not None and prev.windows is not None and loaded.windows is None:
            # chunks or vectors changed: keep the old windows to reuse by content (their memory map stays readable)
            # (not their graph: only the vectors are reused)
            self._old_windows = _OldWindows(self._content_keys(), prev.windows.matrix, prev.windows.rows,
                                            prev.manifest["embedding"].get("name"), prev.manifest["windows"]["sentences"])
        windows = WindowVectors(loaded.windows[2], loaded.windows[0], loaded.windows[1]) if loaded.windows else None
        self._view = IndexView(m, loaded.chunks, columns, loaded.lexical, dense, self._embedder,
                               cache=self._view.cache if same_chunks else {}, windows=windows)

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
        """Whether the index holds `word` anywhere: in a passage, a question, a speaker label or a briefing title
        (BM25's stemmed vocabulary holds them all: updates.lexical_text). A dictionary lookup, at any index size."""
        return self._view.lexical.knows(word)

    def rarity(self, text: str) -> dict[str, float]:
        """The words of `text` the index holds (BM25's stems) -> their idf: the rarer, the heavier."""
        return query_weights(self._view.lexical, text)

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

    def survey(self, topic: str, speaker=None, publisher=None, kind=None, date_from=None, date_to=None):
        """What officials (or `speaker`) said about `topic` across the index: a dated, attributed `Survey`
        (rag.survey): every briefing that addresses it, with its best quote, a timeline, threads and speaker counts."""
        filters = Filters(speaker, publisher, kind, date_from, date_to)   # a bad date fails before the model loads
        view = self._view
        if len(view.chunks) and view.embedded:
            self._loaded_embedder()
        return _survey(view, topic, filters)

    def ask(self, question: str, history=None, k: int = 5, **filters):
        """A cited answer (rag.answer.ask); the index is the answer's retriever."""
        return answer.ask(self, question, history=history, k=k, **filters)

    def ask_stream(self, question: str, history=None, k: int = 5, **filters):
        """Typed answer events as the answer forms (rag.answer.ask_stream)."""
        return answer.ask_stream(self, question, history=history, k=k, **filters)

    # -- updating -------------------------------------------------------------
    def add(self, paths: Sequence[PathLike], progress: Optional[bool] = None, lexical_only: bool = False) -> IngestReport:
        """Index new and changed files under `paths`; drop files gone from a re-ingested folder.

        Two phases: first every chunk is committed with its BM25 index (search and answers work from then
        on, lexically), then the vectors are embedded and committed in checkpoints; hybrid search uses them
        as they come (`Hit.dense`). `lexical_only` stops after phase 1; any later `add` or
        `embed_pending` finishes phase 2, and so does the next ingest after a kill (nothing committed is
        embedded again).

        A file that cannot be read keeps what was indexed of it; a file that now reads but no longer
        parses as a transcript loses its old chunks (the index follows the files); both are reported
        in `skipped`."""
        paths = updates.as_list(paths)
        report = IngestReport()
        with self._updating(progress) as files:
            gone, changed = updates.scan(paths, files, report)
            self._apply(gone, changed, report, progress, lexical_only)
        self.last_report = report
        return report

    def remove(self, paths: Sequence[PathLike], progress: Optional[bool] = None) -> IngestReport:
        """Remove files (or every file under folders) from the index; the files themselves are untouched."""
        paths = updates.as_list(paths)
        report = IngestReport()
        with self._updating(progress) as files:
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
    def _updating(self, progress: Optional[bool] = None):
        """The one writer's section (thread lock + the folder's file lock), on the newest generation on disk,
        upgraded first when an older version built it; yields its files table."""
        with self._write_lock, self.store.lock():
            if self.store.exists():
                m = self.store.read_manifest()
                if m.get("generation") != self._view.manifest.get("generation"):
                    self._install(self.store.load(m))
            if outdated(self._view.manifest):
                self._upgrade(progress)
            yield self._view.manifest["files"]
            self._ensure_windows(progress)

    def upgrade(self, progress: Optional[bool] = None) -> IngestReport:
        """Rebuild an index written by an older chunker or BM25 tokenizer in place, and add the sentence windows
        an older version did not compute (any write does both)."""
        report = IngestReport()
        with self._updating(progress):
            pass
        self._finish_report(report)
        return report

    def _upgrade(self, progress: Optional[bool]) -> None:
        """Re-read every indexed file with this version's chunker, reuse each vector whose embedding text is
        unchanged, embed the others, and commit one generation: the old one answers until then. A file that
        can no longer be read keeps its old chunks (nothing indexed is lost)."""
        view = self._view
        show = sys.stderr.isatty() if progress is None else progress
        if show:
            print(f"rag: upgrading {self.path}/ in place: {outdated(view.manifest)}", file=sys.stderr, flush=True)
        old_files = view.manifest["files"]
        changed = []
        for key, entry in old_files.items():
            try:
                changed.append((key, entry["path"], ingest.fingerprint(entry["path"])))
            except (InputError, OSError):
                pass   # kept as indexed
        scratch = IngestReport()
        files, entries = updates.read_changes(old_files, set(), changed, scratch, self._chunker().chunk, show)
        files.update({k: e for k, e, _ in entries})
        keep_ids = {cid for k, v in files.items() if k not in {k for k, _, _ in entries} for cid in v["chunk_ids"]}
        chunks = [c for c in view.chunks if c.chunk_id in keep_ids] + [c for _, _, cs in entries for c in cs]
        reuse = self._reusable()
        keys = [content_key(c) for c in chunks]
        texts = dict(zip(keys, chunks))
        todo = [k for k in texts if k not in reuse]
        bar = self._bar(len(todo), progress, desc="upgrading")
        try:
            if todo:
                reuse.update(zip(todo, self._encode(self._loaded_embedder(), [texts[k] for k in todo], bar)))
        finally:
            bar.close()
        vectors = np.vstack([reuse[k] for k in keys]).astype(np.float32) if keys else self._no_vectors()
        self._commit(files, chunks, vectors, incremental=True)
        if show:
            print(f"rag: upgraded: {len(chunks)} chunks, {len(todo)} embedded, {len(chunks) - len(todo)} reused",
                  file=sys.stderr, flush=True)

    def _apply(self, gone: set[str], changed: list[updates.Change], report: IngestReport,
               progress: Optional[bool], lexical_only: bool = False) -> None:
        """Remove `gone` files, (re)index `changed` ones: phase 1 commits every chunk with its BM25 (and the
        vectors it can reuse), phase 2 embeds the rest in checkpoints (skipped with `lexical_only`)."""
        view = self._view
        old_files: dict[str, dict] = view.manifest["files"]
        show = sys.stderr.isatty() if progress is None else progress
        files, entries = updates.read_changes(old_files, gone, changed, report, self._chunker().chunk, show)
        keep_ids = {cid for v in files.values() for cid in v["chunk_ids"]}
        kept_rows = [i for i, c in enumerate(view.chunks) if c.chunk_id in keep_ids]
        new_chunks = [c for _, _, cs in entries for c in cs]
        chunks = [view.chunks[i] for i in kept_rows] + new_chunks
        files.update({k: e for k, e, _ in entries})
        # The embedding text is a function of (question_speaker, question, speaker, text) for a fixed chunker
        # version and model (both pinned by the manifest): a chunk with the same content reuses its vector,
        # in phase 1 (the first rows) and in phase 2 (rows after the first one that needs embedding).
        reuse = self._reusable()
        if [c.chunk_id for c in chunks] != [c.chunk_id for c in view.chunks] or files != old_files:
            report.chunks_reused += sum(1 for c in new_chunks if content_key(c) in reuse)
            self._commit(files, chunks, self._prefix(chunks, reuse), incremental=True)   # phase 1
        if not lexical_only:
            self._embed_pending(progress, report, reuse=reuse)                            # phase 2
        self._finish_report(report)

    def _content_keys(self) -> list[str]:
        """`content_key` of every row of the current view (derived once; a vectors-only generation keeps it)."""
        cache = self._view.cache
        if "content_keys" not in cache:
            cache["content_keys"] = [content_key(c) for c in self._view.chunks]
        return cache["content_keys"]

    def _reusable(self) -> dict[str, np.ndarray]:
        """Vectors this index already has, by chunk content: content key -> its vector row."""
        matrix = np.asarray(self.vectors)   # plain row views of the memory map, no copies
        return {k: matrix[i] for i, k in enumerate(self._content_keys()[:self._view.embedded])}

    def _no_vectors(self) -> np.ndarray:
        return np.zeros((0, self.vectors.shape[1] if len(self.vectors) else 1), np.float32)

    def _prefix(self, chunks: list[Chunk], reuse: dict[str, np.ndarray]) -> np.ndarray:
        """Vectors of the longest run of first rows whose content already has one (nothing is embedded here)."""
        rows = []
        for c in chunks:
            vector = reuse.get(content_key(c))
            if vector is None:
                break
            rows.append(vector)
        return np.vstack(rows).astype(np.float32) if rows else self._no_vectors()

    def _encode(self, encoder, chunks: list[Chunk], bar) -> np.ndarray:
        """The embedding texts of `chunks` encoded in settings.index.embed_batch calls, the bar advanced after each."""
        size = current().index.embed_batch
        parts = []
        for i in range(0, len(chunks), size):
            parts.append(encoder.encode([self._chunker().embedding_text(c) for c in chunks[i:i + size]]))
            bar.update(len(parts[-1]))
        return np.vstack(parts) if parts else np.zeros((0, 1), np.float32)

    def embed_pending(self, progress: Optional[bool] = None, step_by_step: bool = False) -> int:
        """Phase 2 on its own: embed the chunks that have no vector yet (an ingest stopped early, or
        `lexical_only`), committing a generation every settings.index.checkpoint_chunks. Returns chunks embedded.
        `step_by_step`: hold the writer's lock for one checkpoint at a time, so another writer (an upload in
        the app) gets in between; rows it adds are embedded by this same run."""
        report = IngestReport()
        if not step_by_step:
            with self._updating():
                self._embed_pending(progress, report)
            return report.chunks_embedded
        more = True
        try:
            while more:
                with self._updating():
                    more = self._embed_pending(progress, report, checkpoints=1)
        finally:
            self._progress = None
        return report.chunks_embedded

    @property
    def vector_progress(self) -> VectorProgress:
        """How far the vectors are: rows embedded of all, and (while phase 2 runs) the rate and time left."""
        p = self._progress
        view = self._view
        if p is None or p.total != len(view.chunks):
            return VectorProgress(view.embedded, len(view.chunks))
        return p

    def _embed_pending(self, progress: Optional[bool], report: IngestReport, checkpoints: Optional[int] = None,
                       reuse: Optional[dict[str, np.ndarray]] = None) -> bool:
        """Embed rows without vectors in order, a generation per checkpoint (at most `checkpoints` of them),
        reusing by content the vectors of this generation and of `reuse` (the one before phase 1);
        True when rows without vectors remain.

        Memory stays flat as the index grows: a checkpoint holds only its own new rows (the store appends them
        to a copy of the vector file), and keeps the FAISS graph of the generation before (its rows after the
        graph's are searched exactly); the last checkpoint grows the graph once, reading the rows back in blocks."""
        view = self._view
        n = len(view.chunks)
        done = view.embedded
        if done >= n:
            self._progress = None
            return False
        cfg = current().index
        all_keys = self._content_keys()
        row_of = {k: i for i, k in enumerate(all_keys[:done])}   # content -> a row of this index that has its vector
        reuse = reuse or {}
        embedder = (self._loaded_embedder() if any(k not in row_of and k not in reuse for k in all_keys[done:])
                    else None)
        if self._progress is None or self._progress.total != n:
            self._progress = VectorProgress(done, n, started=time.monotonic(), start_done=done)
        bar = self._bar(n, progress, initial=done, desc="vectors")
        steps = 0
        try:
            while done < n and (checkpoints is None or steps < checkpoints):
                # the next rows up to `checkpoint_chunks` texts to embed (rows whose vector is reused cost nothing,
                # so a change in the middle of a big index is not re-committed in thousands of small steps)
                keys, todo = [], {}
                for row in range(done, n):
                    k = all_keys[row]
                    if k not in row_of and k not in reuse and k not in todo:
                        if len(todo) >= cfg.checkpoint_chunks:
                            break
                        todo[k] = view.chunks[row]
                    keys.append(k)
                fresh = dict(zip(todo, self._encode(embedder, list(todo.values()), bar))) if todo else {}
                bar.update(len(keys) - len(todo))   # the bar counts texts as they are embedded, then reused rows
                block = np.stack([fresh[k] if k in fresh else reuse[k] if k in reuse else self.vectors[row_of[k]]
                                  for k in keys]).astype(np.float32, copy=False)
                last = done + len(keys) >= n
                self._commit_vectors(block, graph=last, progress=progress)
                for j, k in enumerate(keys):
                    row_of.setdefault(k, done + j)
                report.chunks_embedded += len(todo)
                done += len(keys)
                steps += 1
                self._progress.done = done
        finally:
            bar.close()
            if done >= n or checkpoints is None:
                self._progress = None
        return done < n

    def _ensure_windows(self, progress: Optional[bool] = None) -> None:
        """When every passage has its vector and the generation has no sentence windows (rag.indexing.windows),
        compute them and commit them as a generation of their own: the windows of a passage whose content, model
        and width are those of the last windows seen are reused, the others embedded."""
        view = self._view
        if not windows_missing(view.manifest):
            return
        width = window_width(view.manifest)
        texts, owner = chunk_windows(view.chunks, width)
        n = len(view.chunks)
        counts = np.bincount(owner, minlength=n)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        reuse: dict[str, tuple[int, int]] = {}
        old = self._old_windows
        if old is not None and old.model == view.manifest["embedding"].get("name") and old.width == width:
            lo = np.searchsorted(old.rows, np.arange(len(old.keys)), "left")
            hi = np.searchsorted(old.rows, np.arange(len(old.keys)), "right")
            for r, k in enumerate(old.keys):
                reuse.setdefault(k, (int(lo[r]), int(hi[r])))
        keys = self._content_keys()
        copied = [(r, reuse[k]) for r, k in enumerate(keys) if k in reuse and reuse[k][1] - reuse[k][0] == counts[r]]
        todo_rows = np.setdiff1d(np.arange(n), np.array([r for r, _ in copied], dtype=np.int64))
        todo = np.flatnonzero(np.isin(owner, todo_rows))
        encoder = self._loaded_embedder() if len(todo) else None
        show = sys.stderr.isatty() if progress is None else progress
        if show:
            print(f"rag: sentence windows: {len(owner)} ({len(todo)} to embed, {len(owner) - len(todo)} reused)",
                  file=sys.stderr, flush=True)
        size = current().index.embed_batch

        def fill(matrix: np.ndarray) -> None:
            for r, (a, b) in copied:
                matrix[starts[r]:starts[r] + (b - a)] = old.matrix[a:b]
            bar = self._bar(len(todo), progress, desc="windows")
            try:
                for i in range(0, len(todo), size):
                    ids = todo[i:i + size]
                    matrix[ids] = encoder.encode([texts[j] for j in ids])
                    bar.update(len(ids))
            finally:
                bar.close()

        dim = int(view.manifest["embedding"].get("dim") or self.vectors.shape[1])
        current_gen = Loaded(view.manifest, view.chunks, self.vectors, self.faiss_index, view.lexical)
        bar = self._bar(len(owner) if len(owner) > current().index.exact_max else 0, progress, desc="windows graph")
        try:
            self._install(self.store.write_windows(current_gen, owner, dim, fill, width, on_rows=bar.update))
        finally:
            bar.close()
        self._old_windows = None

    def _commit_vectors(self, rows: np.ndarray, graph: bool, progress: Optional[bool] = None) -> None:
        """A generation with the same chunks and BM25 (linked, not rewritten) and `rows` more vectors; `graph`:
        grow the FAISS graph to every vector (else the new rows are searched exactly until a later one does)."""
        view = self._view
        manifest = dict(view.manifest)
        manifest["embedding"] = {"name": self._embedder.name, "dim": int(rows.shape[1]),
                                 "backend": self._embedder.backend}
        current_gen = Loaded(view.manifest, view.chunks, self.vectors, self.faiss_index, view.lexical)
        missing = view.embedded + len(rows) - self.faiss_index.ntotal
        bar = self._bar(missing if graph else 0, progress, desc="search graph")
        try:
            self._install(self.store.write(manifest, view.chunks, rows, None, same_rows=current_gen, graph=graph,
                                           on_graph_rows=bar.update))
        finally:
            bar.close()
        self._sync_milvus()

    def tune(self, epochs: Optional[int] = None, progress: Optional[bool] = None) -> TuneReport:
        """Fine-tune the embedding model on this archive's own exchanges (reporter question -> official answer;
        rag.encoders.tuning), keep it in the index folder, and re-embed every chunk with it (one new generation:
        searches use the old model and vectors until it is committed)."""
        show = sys.stderr.isatty() if progress is None else progress
        if self._embedder.backend == "server":
            raise RagError(f"rag tune fine-tunes a local model; {self.path}/ embeds with {self._embedder.name} "
                           "(a model server): tune that model where it runs, or build an index with a local one")
        with self._updating():
            view = self._view
            folder = self.path.resolve() / "models" / f"tuned-{int(view.manifest.get('generation', 0)) + 1}"
            folder.parent.mkdir(parents=True, exist_ok=True)
            report = fine_tune(self._embedder.source, exchange_pairs(view.chunks), folder,
                               epochs=current().tune.epochs if epochs is None else epochs, progress=show)
            tuned, old = Embedder(str(folder), backend=self._embedder.backend), self._embedder
            bar = self._bar(len(view.chunks), show)
            try:
                vectors = self._encode(tuned, list(view.chunks), bar)
                self._embedder, self._model_spec = tuned, None
                self._commit(view.manifest["files"], list(view.chunks), vectors, incremental=False,
                             new_model=True)
            except BaseException:
                self._embedder = old   # the previous generation, and its model, stay in force
                raise
            finally:
                bar.close()
        return report

    def _commit(self, files: dict[str, dict], chunks: list[Chunk], vectors: np.ndarray, incremental: bool,
                new_model: bool = False) -> None:
        """Write a generation (the last one's FAISS graph grown, when it only appends) and switch to it.
        `vectors` are those of the first len(vectors) chunks."""
        # every generation written by this version holds its chunker's chunks and its tokenizer's BM25
        manifest = dict(self._view.manifest, files=dict(files), chunker={"version": CHUNKER_VERSION},
                        lexical={"tokenizer": TOKENIZER_VERSION})
        if (incremental or new_model) and len(vectors):
            manifest["embedding"] = {"name": self._embedder.name, "dim": int(vectors.shape[1]),
                                     "backend": self._embedder.backend}
        previous = self.faiss_index if incremental and self._view.manifest.get("generation") else None
        self._install(self.store.write(manifest, chunks, vectors, [lexical_text(c) for c in chunks],
                                       previous_faiss=previous))
        self._sync_milvus()

    def _sync_milvus(self) -> None:
        if self._milvus is not None and self._view.manifest.get("vector_store"):
            view = self._view
            self._milvus.sync(view.chunks[:view.embedded], np.asarray(self.vectors, dtype=np.float32))

    @staticmethod
    def _bar(total: int, progress: Optional[bool], initial: int = 0, desc: str = "embedding"):
        show = (sys.stderr.isatty() if progress is None else progress) and total > initial
        return tqdm(total=total, initial=initial, unit="chunk", desc=desc, disable=not show, file=sys.stderr,
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
        report.vectors_pending = len(view.chunks) - view.embedded
        report.documents_total = sum(1 for v in view.manifest["files"].values() if not v.get("duplicate_of"))
