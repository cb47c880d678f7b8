"""Read one file into text plus the metadata it carries.
Takes a path; gives its decoded text, front matter/HTML metadata, sidecar or manifest metadata and fingerprint.

- bytes -> str: UTF-8 / UTF-16 / UTF-32 with a BOM, UTF-8, then cp1252; NUL bytes
  without a UTF-16/32 BOM mean a binary file.
- markdown/text: YAML front matter between leading `---` lines (PyYAML).
- HTML: markup and site chrome removed with BeautifulSoup; <title>, og:/article: and
  canonical-link metadata kept.
- user metadata: a sidecar `name.meta.json` (or `name.txt.meta.json`) next to the file,
  or one folder manifest `manifest.json` / `manifest.csv` (see `folder_manifest`).

Every problem is an InputError naming the file and the reason.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import json
import re
import stat
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import yaml
from bs4 import BeautifulSoup

from rag.errors import InputError

TEXT_SUFFIXES = (".txt", ".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm")
SUFFIXES = TEXT_SUFFIXES + HTML_SUFFIXES
MANIFEST_NAMES = ("manifest.json", "manifest.csv")
SIDECAR_SUFFIX = ".meta.json"
# Metadata keys a sidecar or manifest may set (others are ignored).
META_KEYS = ("title", "date", "source_url", "publisher", "kind", "place", "time")
MAX_BYTES = 10 * 1024 * 1024  # 100x the largest real transcript (105 KB in the 3,794-file corpus)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BOMS = (  # longest first: the UTF-32 LE BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)


@dataclass
class RawDocument:
    """A file's text (front matter / markup removed) and the metadata found in or beside it."""
    path: Path
    text: str
    content_hash: str                       # sha256 of the raw bytes
    fmt: str                                # "text", "markdown" or "html"
    meta: dict[str, Any] = field(default_factory=dict)       # from front matter / HTML head
    user_meta: dict[str, Any] = field(default_factory=dict)  # from sidecar / manifest (wins)


def decode(raw: bytes, path) -> str:
    """Bytes to text, or InputError saying why not."""
    if not raw.strip():
        raise InputError(path, "empty file")
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                return raw[len(bom):].decode(encoding)
            except UnicodeDecodeError as e:
                raise InputError(path, f"cannot decode as {encoding} (byte {e.start})") from None
    if b"\x00" in raw:
        raise InputError(path, "binary file (contains NUL bytes), not a text transcript")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError as e:
            raise InputError(path, f"undecodable: neither UTF-8 nor cp1252 (byte {e.start})") from None
    controls = len(_CONTROL.findall(text))
    if controls > max(8, len(text) // 100):
        raise InputError(path, "binary file (control characters), not a text transcript")
    return text


def split_front_matter(text: str, path) -> tuple[dict[str, Any], str]:
    """YAML front matter between a leading `---` line and the next `---` line."""
    if not text.startswith("---"):
        return {}, text
    lines = text.split("\n")
    if lines[0].strip() != "---":
        return {}, text
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            try:
                data = yaml.load("\n".join(lines[1:i]), Loader=_YAML_LOADER) or {}
            except yaml.YAMLError as e:
                raise InputError(path, f"invalid YAML front matter: {str(e).splitlines()[0]}") from None
            if not isinstance(data, dict):
                raise InputError(path, "front matter is not a YAML mapping")
            return data, "\n".join(lines[i + 1:])
    return {}, text  # a lone '---' line: a horizontal rule, not front matter


def html_to_text(html: str) -> tuple[str, dict[str, Any]]:
    """Visible text of a saved page (paragraphs separated by blank lines) and its head metadata."""
    soup = BeautifulSoup(html, "html.parser")
    meta: dict[str, Any] = {}
    for tag in soup.find_all("meta"):
        key = (tag.get("property") or tag.get("name") or "").lower()
        value = (tag.get("content") or "").strip()
        if value and key in ("og:title", "og:url", "article:published_time", "date", "dc.date", "og:site_name"):
            meta.setdefault(key, value)
    if soup.title and soup.title.string:
        meta.setdefault("html_title", soup.title.string.strip())
    link = soup.find("link", rel="canonical")
    if link and link.get("href"):
        meta.setdefault("canonical", link["href"].strip())
    h1 = soup.find("h1")
    if h1:
        meta.setdefault("h1", " ".join(h1.get_text(" ").split()))
    for tag in soup(["script", "style", "noscript", "template", "svg", "form", "button",
                     "nav", "header", "footer", "aside", "iframe", "head"]):
        tag.decompose()
    body = soup.find("main") or soup.find("article") or soup.body or soup
    for br in body.find_all("br"):
        br.replace_with("\n")
    for tag in body.find_all(["p", "div", "section", "li", "h1", "h2", "h3", "h4", "h5", "h6",
                              "tr", "blockquote", "pre", "article", "ul", "ol", "table"]):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    return body.get_text(""), meta


def _user_meta(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key in META_KEYS:
        value = d.get(key)
        if value not in (None, ""):
            out[key] = value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else str(value).strip()
    return out


@lru_cache(maxsize=256)
def _manifest(folder: Path, mtime_key: tuple) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    json_path, csv_path = folder / "manifest.json", folder / "manifest.csv"
    if json_path.is_file():
        try:
            data = json.loads(json_path.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError) as e:
            raise InputError(json_path, f"invalid manifest: {e}") from None
        items = data.items() if isinstance(data, dict) else (
            ((d.get("file") or d.get("path") or ""), d) for d in data if isinstance(d, dict))
        for name, d in items:
            if name and isinstance(d, dict):
                entries[Path(str(name)).name] = _user_meta(d)
    if csv_path.is_file():
        try:
            rows = list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8-sig"))))
        except (OSError, ValueError, csv.Error) as e:
            raise InputError(csv_path, f"invalid manifest: {e}") from None
        for row in rows:
            name = (row.get("file") or row.get("path") or "").strip()
            if name:
                entries.setdefault(Path(name).name, _user_meta(row))
    return entries


def folder_manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """File name -> metadata from the folder's manifest.json (an object keyed by file name, or a list of
    objects with a "file" key) and/or manifest.csv (a header row with `file` and any of META_KEYS)."""
    key = tuple((folder / n).stat().st_mtime_ns if (folder / n).is_file() else 0 for n in MANIFEST_NAMES)
    return _manifest(folder, key) if any(key) else {}


def sidecar_meta(path: Path) -> dict[str, Any]:
    """Metadata the user supplied for `path`: its sidecar over the folder manifest."""
    meta = dict(folder_manifest(path.parent).get(path.name, {}))
    for side in (path.with_name(path.name + SIDECAR_SUFFIX), path.with_suffix(SIDECAR_SUFFIX)):
        if side.is_file():
            try:
                data = json.loads(side.read_text(encoding="utf-8-sig"))
            except (OSError, ValueError) as e:
                raise InputError(side, f"invalid sidecar metadata: {e}") from None
            if not isinstance(data, dict):
                raise InputError(side, "sidecar metadata must be a JSON object")
            meta.update(_user_meta(data))
            break
    return meta


def read_bytes(path: Path) -> bytes:
    """The raw bytes of a regular file, refusing folders, FIFOs/devices (reading would block) and huge files."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError as e:
        raise InputError(path, f"unreadable: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(path, "is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(path, "not a regular file (FIFO, socket or device)")
    if st.st_size > MAX_BYTES:
        raise InputError(path, f"file too large ({st.st_size} bytes; limit {MAX_BYTES})")
    try:
        return path.read_bytes()
    except OSError as e:
        raise InputError(path, f"unreadable: {e.strerror or e}") from None


def fingerprint(path) -> str:
    """Cheap change detector (no parsing): sha256 over the raw bytes and the user metadata that applies."""
    path = Path(path)
    h = hashlib.sha256(read_bytes(path))
    h.update(json.dumps(sidecar_meta(path), sort_keys=True).encode("utf-8"))
    return h.hexdigest()


def read_document(path) -> RawDocument:
    """Read and decode one file; no transcript parsing yet."""
    path = Path(path)
    raw = read_bytes(path)
    text = decode(raw, path).replace("\r\n", "\n").replace("\r", "\n")
    suffix = path.suffix.lower()
    head = text.lstrip()[:512].lower()
    if suffix in HTML_SUFFIXES or head.startswith(("<!doctype html", "<html")):
        fmt = "html"
        body, meta = html_to_text(text)
    else:
        meta, body = split_front_matter(text, path)
        fmt = "markdown" if (suffix in (".md", ".markdown") or meta) else "text"
    return RawDocument(path=path, text=body, content_hash=hashlib.sha256(raw).hexdigest(), fmt=fmt,
                       meta=meta, user_meta=sidecar_meta(path))


def is_metadata_file(path: Path) -> bool:
    """Sidecars and manifests describe transcripts; they are never transcripts themselves."""
    name = path.name.lower()
    return name.endswith(SIDECAR_SUFFIX) or name in MANIFEST_NAMES


def first(*values) -> Optional[Any]:
    for v in values:
        if v not in (None, ""):
            return v
    return None
