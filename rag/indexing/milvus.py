"""Milvus as the vector store (pymilvus), for an index that outgrows one machine's memory.
Takes a store URI, chunks and their vectors; gives a synced collection and dense rankings with filters.

Chosen by a store URI:

    milvus://HOST:19530/briefings          a Milvus server or cluster (collection "briefings")
    milvus+https://HOST:443/briefings      the same over TLS (token from $MILVUS_TOKEN, or user:password@)
    milvus-lite:///path/briefings.db       Milvus Lite: an in-process file, for local use and tests
    /path/briefings.db                     the same (any path ending in .db)
    (append #name to a Milvus Lite file to pick the collection; default "briefings")

What lives where: the vectors (with each chunk's id and its filterable metadata) are in the Milvus
collection; the chunk store, BM25 and the manifest stay in the local index folder, so BM25 and
hybrid search work unchanged. Filters are computed with the same rules as the local path
(rag.retrieval.filters.Columns) and sent to Milvus as a boolean expression over the stored metadata
(`role in [...] or speaker in [...]`, `publisher in [...]`, `kind in [...]`, `date >= 20210101`),
so Milvus returns k matching chunks whenever k exist, without shipping id lists.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence
from urllib.parse import unquote, urlparse

import numpy as np

from rag.errors import RagError
from rag.indexing.vectors import row_similarity
from rag.records import ROLES, Chunk
from rag.lexicon import norm_label
from rag.retrieval.filters import Columns, Filters, wanted
from rag.settings import current

DEFAULT_COLLECTION = "briefings"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
MAX_LABEL = 512
HNSW_PARAMS = {"M": 32, "efConstruction": 100}


def is_store_uri(spec: Optional[str]) -> bool:
    if not spec:
        return False
    s = str(spec)
    return s.startswith(("milvus://", "milvus+http://", "milvus+https://", "milvus-lite://")) or s.endswith(".db")


@dataclass
class StoreURI:
    uri: str            # what MilvusClient connects to: http(s)://host:port, or a local .db path
    collection: str
    lite: bool
    token: str = ""

    @classmethod
    def parse(cls, spec: str) -> "StoreURI":
        s = str(spec)
        if s.startswith("milvus-lite://") or ((s.endswith(".db") or ".db#" in s) and "://" not in s):
            path = s[len("milvus-lite://"):] if s.startswith("milvus-lite://") else s
            path, _, name = path.partition("#")
            if not path.endswith(".db"):
                raise RagError(f"--store {spec}: a Milvus Lite store is a file ending in .db")
            return cls(str(Path(path).expanduser().resolve()), _check_name(name or DEFAULT_COLLECTION, spec), True)
        u = urlparse(s)
        if u.scheme not in ("milvus", "milvus+http", "milvus+https") or not u.hostname:
            raise RagError(f"--store {spec}: use milvus://HOST:PORT/COLLECTION, milvus+https://..., "
                           f"milvus-lite:///path/file.db or a path ending in .db")
        scheme = "https" if u.scheme == "milvus+https" else "http"
        name = u.path.strip("/") or DEFAULT_COLLECTION
        token = current().runtime.milvus_token
        if u.username:
            token = f"{unquote(u.username)}:{unquote(u.password or '')}"
        return cls(f"{scheme}://{u.hostname}:{u.port or 19530}", _check_name(name, spec), False, token)

    def __str__(self) -> str:
        return f"{self.uri}#{self.collection}" if self.lite else f"{self.uri}/{self.collection}"


def _check_name(name: str, spec: str) -> str:
    if not _NAME.match(name):
        raise RagError(f"--store {spec}: collection name {name!r} must be letters, digits and _ (not starting with a digit)")
    return name


def _norm(s: Optional[str]) -> str:
    return norm_label(s)[:MAX_LABEL]   # the same normalisation the local filters use


def _date_int(date: Optional[str]) -> int:
    return int(date.replace("-", "")) if date else 0


def _row(c: Chunk, v: np.ndarray) -> dict:
    return {"chunk_id": c.chunk_id, "vector": np.asarray(v, dtype=np.float32).tolist(), "doc_id": c.doc_id,
            "role": c.role or "", "speaker": _norm(c.speaker), "publisher": _norm(c.publisher),
            "kind": _norm(c.kind), "date": _date_int(c.date)}


def _quote(values: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in sorted(set(values))) + "]"


def filter_expression(columns, filters) -> Optional[str]:
    """A Milvus boolean expression selecting exactly the rows `columns.allowed(filters)` selects.

    Each filter part depends on one column (the speaker part on role or label), so the set of
    matching values of that column, taken from the local rows, expresses it exactly. Returns None
    when no filter is set, and "false" when nothing can match."""
    if filters is None or not filters.active():
        return None
    parts = []
    speakers = wanted(filters.speaker)
    if speakers:
        roles = sorted({w[:-1] if w.endswith("s") and w[:-1] in ROLES else w for w in speakers} & set(ROLES))
        rows = columns.allowed(Filters(speaker=filters.speaker))
        by_label = [i for i in rows if columns.role[i] not in roles]
        alt = []
        if roles:
            alt.append(f"role in {_quote(roles)}")
        if by_label:
            alt.append(f"speaker in {_quote([str(columns.speaker[i])[:MAX_LABEL] for i in by_label])}")
        parts.append("(" + " or ".join(alt) + ")" if alt else "false")
    for name in ("publisher", "kind"):
        if wanted(getattr(filters, name)):
            rows = columns.allowed(Filters(**{name: getattr(filters, name)}))
            values = [str(getattr(columns, name)[i])[:MAX_LABEL] for i in rows]
            parts.append(f"{name} in {_quote(values)}" if values else "false")
    if filters.date_from or filters.date_to:
        parts.append("date > 0")
        if filters.date_from:
            parts.append(f"date >= {_date_int(filters.date_from)}")
        if filters.date_to:
            parts.append(f"date <= {_date_int(filters.date_to)}")
    return " and ".join(parts)


class MilvusVectors:
    """The vectors of one index in a Milvus collection, keyed by chunk_id."""

    def __init__(self, spec: str | StoreURI):
        self.spec = spec if isinstance(spec, StoreURI) else StoreURI.parse(spec)
        self.spec_text = str(spec)
        self._client = None
        self.dim: Optional[int] = None

    @property
    def client(self):
        if self._client is None:
            try:
                from pymilvus import MilvusClient
            except ImportError:
                raise RagError("the Milvus store needs pymilvus (and milvus-lite for a .db file): "
                               "pip install 'briefing-rag[milvus]'") from None
            if self.spec.lite:
                Path(self.spec.uri).parent.mkdir(parents=True, exist_ok=True)
            try:
                self._client = MilvusClient(uri=self.spec.uri, token=self.spec.token)
            except Exception as e:
                raise RagError(f"cannot connect to Milvus at {self.spec}: {e}") from None
        return self._client

    def ensure(self, dim: int) -> None:
        """Create the collection for `dim`-dimensional vectors, or check the existing one has that dimension."""
        from pymilvus import DataType, MilvusClient
        c, name = self.client, self.spec.collection
        if c.has_collection(name):
            fields = c.describe_collection(name)["fields"]
            have = next((int(f["params"]["dim"]) for f in fields if f["name"] == "vector"), None)
            if have != dim:
                raise RagError(f"Milvus collection {self.spec} holds {have}-dimensional vectors, this index makes "
                               f"{dim}-dimensional ones; use another collection name")
        else:
            s = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            s.add_field("chunk_id", DataType.VARCHAR, is_primary=True, max_length=128)
            s.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
            s.add_field("doc_id", DataType.VARCHAR, max_length=128)
            for f in ("role", "speaker", "publisher", "kind"):
                s.add_field(f, DataType.VARCHAR, max_length=MAX_LABEL * 4)   # bytes: labels may be non-ASCII
            s.add_field("date", DataType.INT64)
            ip = c.prepare_index_params()
            if self.spec.lite:
                ip.add_index("vector", index_type="FLAT", metric_type="IP")
            else:
                ip.add_index("vector", index_type="HNSW", metric_type="IP", params=HNSW_PARAMS)
            c.create_collection(name, schema=s, index_params=ip)
        self.dim = dim

    def ids(self) -> set[str]:
        c, name = self.client, self.spec.collection
        if not c.has_collection(name):
            return set()
        it = c.query_iterator(name, batch_size=4096, filter="", output_fields=["chunk_id"])
        out = set()
        try:
            while True:
                batch = it.next()
                if not batch:
                    break
                out.update(r["chunk_id"] for r in batch)
        finally:
            it.close()
        return out

    def sync(self, chunks: Sequence[Chunk], vectors: np.ndarray, batch: int = 2000) -> tuple[int, int]:
        """Make the collection hold exactly these chunks' vectors: insert the missing, delete the others.
        Returns (inserted, deleted)."""
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        if len(chunks):
            self.ensure(int(vectors.shape[1]))
        elif not self.client.has_collection(self.spec.collection):
            return 0, 0
        have = self.ids()
        want = {c.chunk_id: i for i, c in enumerate(chunks)}
        stale = sorted(have - want.keys())
        todo = [i for cid, i in want.items() if cid not in have]
        c, name = self.client, self.spec.collection
        for i in range(0, len(stale), batch):
            c.delete(name, ids=stale[i:i + batch])
        for i in range(0, len(todo), batch):
            rows = todo[i:i + batch]
            c.insert(name, [_row(chunks[j], vectors[j]) for j in rows])
        if stale or todo:
            c.flush(name)
        return len(todo), len(stale)

    def count(self) -> int:
        c, name = self.client, self.spec.collection
        if not c.has_collection(name):
            return 0
        res = c.query(name, filter="", output_fields=["count(*)"])
        return int(res[0]["count(*)"])

    def search(self, queries: np.ndarray, n: int, expr: Optional[str] = None) -> list[list[tuple[str, float]]]:
        """Top-n (chunk_id, inner product) per query row, best first, restricted by `expr` when given."""
        q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if expr == "false" or n <= 0:
            return [[] for _ in q]
        params = {"metric_type": "IP", "params": {} if self.spec.lite else {"ef": max(128, n)}}
        res = self.client.search(self.spec.collection, data=q.tolist(), limit=min(n, 16384), filter=expr or "",
                                 output_fields=["chunk_id"], search_params=params)
        return [sorted(((r["entity"]["chunk_id"] if "entity" in r else r["id"], float(r["distance"])) for r in hits),
                       key=lambda x: (-x[1], x[0])) for hits in res]

    def drop(self) -> None:
        c, name = self.client, self.spec.collection
        if c.has_collection(name):
            c.drop_collection(name)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class MilvusRanking:
    """The `VectorStore` of an index whose vectors are in Milvus: dense rankings as row numbers of its chunks."""

    def __init__(self, milvus: MilvusVectors, chunks: Sequence[Chunk], columns: Columns, matrix: np.ndarray):
        self.milvus, self.columns, self.matrix = milvus, columns, matrix
        self.row_of = {c.chunk_id: i for i, c in enumerate(chunks)}

    def similarity(self, qvec: np.ndarray, rows: list[int]) -> np.ndarray:
        return row_similarity(self.matrix, qvec, rows)   # the index folder keeps a copy of the vectors

    def selector(self, rows) -> None:
        return None   # Milvus is sent the filters as an expression instead (filter_expression)

    def rank(self, qvec: np.ndarray, n: int, rows, selector, filters: Filters,
             period: Optional[tuple[str, str]]) -> list[tuple[int, float]]:
        """(row, score) best first. `period`: (first, last) ISO dates; chunks dated within it or undated."""
        expr = filter_expression(self.columns, filters)
        if period:
            within = f"(date == 0 or (date >= {_date_int(period[0])} and date <= {_date_int(period[1])}))"
            expr = f"{expr} and {within}" if expr else within
        return [(self.row_of[cid], s) for cid, s in self.milvus.search(qvec, n, expr)[0] if cid in self.row_of]
