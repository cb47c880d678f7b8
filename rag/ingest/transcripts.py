"""Files -> Transcripts (metadata + speaker turns). No embedding here.
Takes paths; gives `Transcript`s, or an InputError per file that cannot be read (the one per-file loop).

    result = load(["data/briefings"])
    result.transcripts   # one per distinct document (same doc_id stored once)
    result.errors        # InputError per bad file (the good ones are still loaded)
    result.duplicates    # (path, path of the identical document kept)

A file with text but no speaker label is kept as one unattributed turn only when it is a
published page (front matter, HTML metadata, sidecar or manifest: e.g. a statement);
a plain text file without any label is an InputError ("no speaker turns found"). When such a page's
title names its one speaker ("Remarks as Prepared for Delivery by ...", "Statement by ..."), the text is
that speaker's (rag.ingest.bylines); a readout or fact sheet stays unattributed.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional, Union

from rag.errors import InputError
from rag.ingest.metadata import derived_title, iso_date, kind_of, normalise_kind, publisher_of
from rag.ingest.readers import SUFFIXES, first, is_metadata_file, read_document
from rag.ingest.bylines import title_speaker
from rag.ingest.roles import BRIEFING_KINDS, label_role, resolve_roles
from rag.ingest.turns import parse
from rag.records import OFFICIAL, Transcript, Turn

PathLike = Union[str, os.PathLike]
SKIP_STEMS = {"readme", "license", "licence", "copying", "notice", "changelog", "provenance", "authors",
              "contributing", "manifest"}


@dataclass
class IngestResult:
    transcripts: list[Transcript] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (path, path of the copy kept)


def _skipped(path: Path) -> bool:
    return (is_metadata_file(path) or path.stem.lower() in SKIP_STEMS or path.name.startswith(".")
            or path.suffix.lower() not in SUFFIXES)


def find_files(paths: Iterable[PathLike], errors: list | None = None) -> list[Path]:
    """Transcript files under `paths` (folders searched recursively), sorted, without sidecars,
    manifests and README/LICENSE-type files. A missing path is an InputError, appended to `errors`
    when given, otherwise raised."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: dict[Path, None] = {}
    real: set[Path] = set()  # the same file reached twice (a folder and a symlink to it) is listed once

    def add(f: Path) -> None:
        try:
            key = f.resolve()
        except (OSError, RuntimeError):
            key = f
        if key not in real:
            real.add(key)
            found.setdefault(f, None)

    for p in map(Path, paths):
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    f = Path(root) / name
                    if not _skipped(f):
                        add(f)
            continue
        elif p.exists():  # a file (or a FIFO/device, reported when read)
            if is_metadata_file(p):
                err = InputError(p, "is a metadata sidecar/manifest, not a transcript")
            else:
                add(p)
                continue
        else:
            err = InputError(p, "no such file or folder")
        if errors is None:
            raise err
        errors.append(err)
    return list(found)


def doc_id_of(turns: list[Turn]) -> str:
    h = hashlib.sha256()
    for t in turns:
        h.update(f"{t.speaker or ''}\x1f{t.text}\x1e".encode("utf-8"))
    return h.hexdigest()


def read_transcript(path: PathLike) -> Transcript:
    """Parse one file. Raises InputError naming the file and the reason."""
    doc = read_document(path)
    fm, user = doc.meta, doc.user_meta
    parsed = parse(doc.text, markdown=doc.fmt == "markdown")
    if not parsed.turns:
        raise InputError(doc.path, "no transcript text found (only site boilerplate or blank lines)")
    has_meta = bool(fm or user)
    if not parsed.labelled and not has_meta:
        raise InputError(doc.path, "no speaker turns found (no 'NAME:' or 'Q' labels); if it is a statement, "
                                   "give it a name.meta.json sidecar with its title")
    url = first(user.get("source_url"), fm.get("source_url"), fm.get("permalink"), fm.get("url"),
                fm.get("canonical"), fm.get("og:url"))
    publisher = (publisher_of(name=user.get("publisher")) or publisher_of(name=fm.get("publisher"))
                 or publisher_of(url=url, site=parsed.site))
    title = first(user.get("title"), fm.get("title"), fm.get("og:title"), fm.get("h1"), fm.get("html_title"))
    title = " ".join(str(title).split()) if title else None
    category = first(fm.get("category"), fm.get("categories"), fm.get("tags"))
    kind = normalise_kind(user.get("kind")) or normalise_kind(fm.get("kind")) or kind_of(
        title, str(category) if category else None, url, turns=parsed.turns)
    if not parsed.labelled and kind in BRIEFING_KINDS:
        kind = "statement"  # published text with nobody speaking: a statement, whatever its folder says
    if not parsed.labelled:
        _byline_speaker(parsed.turns, title)
    resolve_roles(parsed.turns, title or "", kind)
    if user.get("date") and not iso_date(user["date"]):
        raise InputError(doc.path, f"the date {user['date']!r} given in its sidecar/manifest is not a date "
                                   "(use YYYY-MM-DD)")
    date = iso_date(first(user.get("date"), fm.get("date"), fm.get("published_time"),
                          fm.get("article:published_time"), fm.get("dc.date")))
    return Transcript(
        doc_id=doc_id_of(parsed.turns), path=str(path), title=title or derived_title(
            doc.path.stem, kind, publisher, parsed.turns),
        date=date, source_url=str(url) if url else None, publisher=publisher, kind=kind,
        place=first(user.get("place"), parsed.place), time=first(user.get("time"), parsed.time),
        content_hash=doc.content_hash, turns=parsed.turns)


def _byline_speaker(turns: list[Turn], title: Optional[str]) -> None:
    """A text nobody is labelled in, whose title names its one speaker ("Remarks as Prepared for Delivery by
    First Lady Jill Biden at ..."), is that speaker's: each turn gets the title's label (rag.ingest.bylines)."""
    speaker = title_speaker(title)
    if speaker is None:
        return
    role = label_role(speaker) or OFFICIAL  # a named speaker the White House publishes a speech of
    for t in turns:
        t.speaker, t.role = speaker, role


def read_each(paths: Iterable[PathLike]) -> Iterator[tuple[str, Union[Transcript, InputError]]]:
    """The one per-file loop: each file parsed, or the InputError saying why it cannot be (a parser bug
    becomes an error too, so one bad file never stops the others)."""
    for f in paths:
        try:
            yield str(f), read_transcript(f)
        except InputError as e:
            yield str(f), e
        except Exception as e:  # a parser bug must not stop the other files
            yield str(f), InputError(f, f"could not be parsed ({type(e).__name__}: {e})")


def load(paths: Iterable[PathLike]) -> IngestResult:
    """Read every transcript under `paths`; bad files become errors, identical documents are kept once."""
    result = IngestResult()
    seen: dict[str, str] = {}
    for _, t in read_each(find_files(paths, errors=result.errors)):
        if isinstance(t, InputError):
            result.errors.append(t)
        elif t.doc_id in seen:
            result.duplicates.append((t.path, seen[t.doc_id]))
        else:
            seen[t.doc_id] = t.path
            result.transcripts.append(t)
    return result
