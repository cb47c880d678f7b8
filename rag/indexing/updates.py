"""Incremental updates of an index: which files changed, what their transcripts and chunks are, which vectors
can be reused. Takes paths and the index's files table; gives changes, chunk entries, an `IngestReport`
and `VectorProgress` (how far an ingest's vectors are).

A file whose fingerprint (bytes and user metadata) is unchanged is not even re-read; a changed file's
chunks are replaced; a file gone from a re-ingested folder loses its chunks. The same transcript under
two names is indexed once (the second is recorded as a duplicate and takes over if the first is removed).
Vectors are reused for every chunk whose embedding text is already in the index (`content_key`).
"""
from __future__ import annotations

import hashlib
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

from tqdm.auto import tqdm

from rag import ingest
from rag.errors import InputError
from rag.records import Chunk

PathLike = Union[str, os.PathLike]
Change = tuple[str, str, str]                 # (key, path as given, fingerprint)
Entry = tuple[str, dict, list[Chunk]]         # (key, files-table entry, chunks: none for a duplicate)


@dataclass
class IngestReport:
    """What an `add` or `remove` did."""
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (path, path of the identical transcript)
    skipped: list[tuple[str, str]] = field(default_factory=list)     # (path, reason)
    chunks_embedded: int = 0        # texts embedded by this run (phase 2)
    chunks_reused: int = 0          # new chunks whose vector was reused by content
    chunks_total: int = 0
    documents_total: int = 0
    vectors_pending: int = 0        # chunks still without a vector (--lexical-only, or stopped early)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["duplicates"] = [{"path": p, "same_as": q} for p, q in self.duplicates]
        d["skipped"] = [{"path": p, "reason": r} for p, r in self.skipped]
        return d


@dataclass
class VectorProgress:
    """Rows embedded of all (phase 2 of an ingest); while it runs, also its rate, for the time left."""
    done: int
    total: int
    started: Optional[float] = None     # time.monotonic() when this run of phase 2 began
    start_done: int = 0

    @property
    def complete(self) -> bool:
        return self.done >= self.total

    def seconds_left(self) -> Optional[float]:
        if self.started is None or self.done <= self.start_done:
            return None
        rate = (self.done - self.start_done) / max(1e-9, time.monotonic() - self.started)
        return (self.total - self.done) / rate

    def describe(self) -> str:
        """'vectors: 37% of 199,657 passages, about 21 min left' (or 'all 234 passages have vectors')."""
        if self.complete:
            return f"all {self.total:,} passages have vectors"
        pct = int(100 * self.done / max(1, self.total))
        left = self.seconds_left()
        eta = "" if left is None else f", about {max(1, round(left / 60))} min left"
        state = "embedding" if self.started is not None else "not started: passages are found by their words"
        return f"vectors: {pct}% of {self.total:,} passages{eta} ({state})"


def lexical_text(chunk: Chunk) -> str:
    """What BM25 indexes: the briefing's title, who speaks, their words, and the question they answer. The title
    names the occasion ("... with Sean Hannity", "... on the Anniversary of Roe v. Wade") that a question recalls
    and a passage rarely repeats: whole-corpus tuning BM25 hit@5 0.379 -> 0.466 (eval/RESULTS.md).
    Changing what goes in here needs lexical.TOKENIZER_VERSION bumped, so that indexes are rebuilt in place."""
    return "\n".join(x for x in (chunk.title, chunk.speaker, chunk.text, chunk.question) if x)


def content_key(c: Chunk) -> str:
    """Everything the embedding text is made of (for a fixed chunker version and model)."""
    return hashlib.sha256("\x1f".join(x or "" for x in (c.question_speaker, c.question, c.speaker, c.text))
                          .encode("utf-8")).hexdigest()


def file_key(path: PathLike) -> str:
    """Identity of a file in the index: its absolute path (symlinks kept, so two names stay two files)."""
    return os.path.abspath(os.fspath(path))


def under(key: str, roots: Iterable[str]) -> bool:
    return any(key == r or key.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def as_list(paths) -> list:
    return [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)


def scan(paths: Sequence[PathLike], files: dict[str, dict], report: IngestReport) -> tuple[set[str], list[Change]]:
    """(keys of indexed files gone from re-ingested folders, changed or new files) under `paths`."""
    errors: list[InputError] = []
    found = [Path(f) for f in ingest.find_files(paths, errors=errors)]
    report.skipped += [(e.path, e.reason) for e in errors]
    seen, changed = set(), []
    for p in found:
        key = file_key(p)
        if key in seen:
            continue
        seen.add(key)
        try:
            fp = ingest.fingerprint(p)
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
    folders = [file_key(p) for p in paths if os.path.isdir(p)]
    gone = {k for k in files if k not in seen and under(k, folders) and not os.path.lexists(k)}
    return gone, changed


def read_changes(old_files: dict[str, dict], gone: set[str], changed: list[Change], report: IngestReport,
                 chunk, progress: bool = False) -> tuple[dict[str, dict], list[Entry]]:
    """(files kept as they are, entries of the re-read files): changed files parsed and chunked with `chunk`,
    duplicates of one transcript recorded once; files that cannot be read are reported and left out."""
    changed_keys = {k for k, _, _ in changed}
    files = {k: dict(v) for k, v in old_files.items() if k not in gone and k not in changed_keys}
    report.removed += [old_files[k]["path"] for k in sorted(gone)]
    # Duplicates of a file that is gone or changing lose their original: re-read them.
    for k, v in list(files.items()):
        if v.get("duplicate_of") in gone or v.get("duplicate_of") in changed_keys:
            changed.append((k, v["path"], v.get("fingerprint", "")))
            del files[k]
    owner_of_doc = {v["doc_id"]: k for k, v in files.items() if not v.get("duplicate_of")}
    changed.sort(key=lambda x: x[0] not in old_files)  # a file already indexed keeps its documents
    by_path = {shown: (key, fp) for key, shown, fp in changed}
    entries: list[Entry] = []
    bar = tqdm(total=len(changed), unit="file", desc="reading", disable=not (progress and changed), file=sys.stderr,
               dynamic_ncols=True)
    for shown, t in ingest.read_each(shown for _, shown, _ in changed):
        bar.update(1)
        key, fp = by_path[shown]
        if isinstance(t, InputError):
            report.skipped.append((t.path, t.reason))
            continue
        entry = {"path": shown, "fingerprint": fp, "doc_id": t.doc_id, "title": t.title,
                 "content_hash": t.content_hash, "chunk_ids": [], "duplicate_of": None}
        (report.updated if key in old_files else report.added).append(shown)
        chunks: list[Chunk] = []
        owner = owner_of_doc.get(t.doc_id)
        if owner is not None:
            entry["duplicate_of"] = owner
            report.duplicates.append((shown, (files.get(owner) or next(e for k, e, _ in entries if k == owner))["path"]))
        else:
            chunks = chunk(t)
            entry["chunk_ids"] = [c.chunk_id for c in chunks]
            owner_of_doc[t.doc_id] = key
        entries.append((key, entry, chunks))
    bar.close()
    return files, entries
