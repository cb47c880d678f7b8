"""FAISS index choice and search: exact below a size threshold, HNSW above it.
Takes unit vectors (and query vectors); gives a FAISS index, top-n (scores, ids), and recall figures.

    index = make_faiss_index(vectors)            # IndexFlatIP, or IndexHNSWSQ (float16) above settings.index.exact_max rows
    scores, ids = search(index, qvecs, n)        # efSearch set from n
    scores, ids = search(index, qvecs, n, allowed=rows, vectors=vectors)   # filtered: k back whenever k exist

Vectors are unit float32 rows, so inner product = cosine; FAISS ids are row numbers.

HNSW settings: M=32, efConstruction=100, rows kept as float16, efSearch = max(n, ef_for(rows)): 512 up to
250,000 rows, growing to 4,096 at 1M. Recall@10 against exact search on the CC0 corpus' 199,657 real
rows: 0.976 by row id, 0.9945 counting equal-score copies (`rag bench` prints both; ef_for gives the
figures at 1M). A filter that keeps few rows is searched exactly over those rows (a graph walk that may
visit only excluded nodes can return fewer than n); a broad filter walks the graph with an id selector
and a wider beam, falling back to the exact path if it comes back short.
"""
from __future__ import annotations

import mmap
from typing import Optional

import numpy as np

from rag.settings import current



def ef_for(rows: int) -> int:
    """efSearch for a graph of `rows` vectors: 512 up to 250,000 rows, growing to 4,096 at 1,000,000.
    Measured at 1M synthetic vectors (mixtures of real ones): recall@10 0.90 at 512, 0.94 at 1,024, 0.97 at
    2,048, 0.98 at 4,096 (14 ms per query); at the CC0 corpus' 199,657 rows 512 gives 0.9945 by score."""
    cfg = current().index
    return int(min(cfg.ef_search_max, max(cfg.ef_search, cfg.ef_search_max * (rows / 1_000_000) ** 1.5)))


def make_faiss_index(vectors: np.ndarray, exact_max: Optional[int] = None, previous=None):
    """The FAISS index for these unit vectors (ids = row numbers): exact IndexFlatIP up to
    `exact_max` rows (default settings.index.exact_max), an inner-product HNSW graph (float16 rows) above.

    `previous`: the index of the generation before. When `vectors` only appends rows to it (same
    kind, same first and last old rows), it is copied and only the new rows are added; the
    previous object itself is never modified (searches may be using it)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    d = int(vectors.shape[1])
    limit = current().index.exact_max if exact_max is None else exact_max
    approx = len(vectors) > limit
    if previous is not None and _appends(previous, vectors, approx):
        index, start = _copy(previous), previous.ntotal
    else:
        index, start = _new_index(d, approx), 0
    if len(vectors) > start:
        index.add(vectors[start:])
    return index


def grow_faiss_index(previous, total: int, dim: int, read_rows, on_rows=None):
    """The FAISS index of `total` rows of which `previous` holds the first previous.ntotal (its rows, as a vectors-only
    generation keeps them): a copy of it with the others added, or a new index when the kind changes (exact ->
    HNSW past exact_max). `read_rows(start)` yields the rows from `start` on in blocks (read from the vector file,
    so the whole matrix is never in memory); `on_rows(n)` is called after each block. `previous` is not modified."""
    approx = total > current().index.exact_max
    if previous is not None and previous.ntotal and previous.d == dim and is_approximate(previous) == approx:
        index, start = _copy(previous), previous.ntotal
    else:
        index, start = _new_index(dim, approx), 0
    for block in read_rows(start):
        index.add(np.ascontiguousarray(block, dtype=np.float32))
        if on_rows is not None:
            on_rows(len(block))
    return index


def _copy(previous):
    import faiss
    index = faiss.clone_index(previous)
    if is_approximate(index):
        faiss.downcast_index(index).hnsw.efSearch = current().index.ef_search
    return index


def _new_index(d: int, approx: bool):
    import faiss
    cfg = current().index
    if not approx:
        return faiss.IndexFlatIP(d)
    # vectors stored as float16 inside the graph: half the memory of IndexHNSWFlat, same recall@10
    # (0.9615 vs 0.9615 on 60,000 real CC0 chunk vectors, efSearch 512); exact searches use the float32 rows
    index = faiss.IndexHNSWSQ(d, faiss.ScalarQuantizer.QT_fp16, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = cfg.ef_construction
    index.hnsw.efSearch = cfg.ef_search
    return index


def _appends(previous, vectors: np.ndarray, approx: bool) -> bool:
    """Is `vectors` the previous index's rows plus new ones at the end (and the same kind of index)?"""
    n = previous.ntotal
    if n == 0 or n > len(vectors) or previous.d != vectors.shape[1] or is_approximate(previous) != approx:
        return False
    try:
        probe = [0, n // 2, n - 1]
        old = np.vstack([previous.reconstruct(int(i)) for i in probe])
    except RuntimeError:   # an index kind that cannot give its rows back
        return False
    if is_approximate(previous):   # float16 inside the graph: equal up to rounding
        return bool(np.allclose(old, vectors[probe], atol=2e-3))
    return bool(np.array_equal(old, vectors[probe]))


def is_approximate(index) -> bool:
    import faiss
    return isinstance(faiss.downcast_index(index), faiss.IndexHNSW)


def _exact_subset(index, q: np.ndarray, n: int, allowed: np.ndarray, vectors) -> tuple[np.ndarray, np.ndarray]:
    sub = np.asarray(vectors[allowed] if vectors is not None else index.reconstruct_batch(allowed), dtype=np.float32)
    _drop_pages(vectors)
    sims = q @ sub.T
    n = min(n, len(allowed))
    scores, ids = [], []
    for row in sims:
        top = np.argpartition(-row, n - 1)[:n] if n < len(row) else np.arange(len(row))
        top = top[np.lexsort((allowed[top], -row[top]))]   # best first, ties by row id
        scores.append(row[top])
        ids.append(allowed[top])
    return np.asarray(scores, np.float32), np.asarray(ids, np.int64)


def exact_rows(queries: np.ndarray, n: int, rows: np.ndarray, vectors, block: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-n (scores, ids) over `rows` of `vectors` (a memory map: read a block at a time, pages let go)."""
    q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    best_s = np.zeros((len(q), 0), np.float32)
    best_i = np.zeros((len(q), 0), np.int64)
    contiguous = len(rows) and int(rows[-1]) - int(rows[0]) + 1 == len(rows)
    for a in range(0, len(rows), block):
        part = rows[a:a + block]
        if contiguous:   # a run of rows (the unfiltered tail): read as a slice, not gathered row by row
            s = q @ np.asarray(vectors[int(part[0]):int(part[-1]) + 1], dtype=np.float32).T
            _drop_pages(vectors)
            top = np.argsort(-s, axis=1, kind="stable")[:, :n]
            s, i = np.take_along_axis(s, top, 1), part[top]
        else:
            s, i = _exact_subset(None, q, n, part, vectors)
        best_s, best_i = np.concatenate([best_s, s], 1), np.concatenate([best_i, i], 1)
        order = np.lexsort((best_i, -best_s), axis=-1)[:, :n] if best_s.shape[1] else np.zeros((len(q), 0), np.int64)
        best_s, best_i = np.take_along_axis(best_s, order, 1), np.take_along_axis(best_i, order, 1)
    return best_s, best_i


def _drop_pages(vectors) -> None:
    """Unmap the pages of a memory-mapped vectors file just read (they stay in the page cache): without it a
    long-running server's RSS grows by every row a filtered search ever touched (up to the file's 300 MB)."""
    mm = getattr(vectors, "_mmap", None)
    if mm is None and isinstance(getattr(vectors, "base", None), mmap.mmap):
        mm = vectors.base
    if mm is not None and hasattr(mm, "madvise"):
        try:
            mm.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError, AttributeError):
            pass


def search(index, queries: np.ndarray, n: int, allowed: Optional[np.ndarray] = None, vectors=None,
           selector=None, ef_search: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-n (scores, ids) per query row; ids -1 pad when fewer exist. `allowed`: sorted row ids that
    pass a filter (None = all); `vectors`: the index's rows (for exact search over a filtered subset)."""
    import faiss
    q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    total = index.ntotal if allowed is None else len(allowed)
    n = min(n, total)
    if n <= 0:
        return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
    approx = is_approximate(index)
    if not approx:
        if allowed is None:
            return index.search(q, n)
        sel = selector if selector is not None else faiss.IDSelectorBatch(allowed)
        return index.search(q, n, params=faiss.SearchParameters(sel=sel))
    ef = max(ef_search or ef_for(index.ntotal), n)
    if allowed is None:
        return index.search(q, n, params=faiss.SearchParametersHNSW(efSearch=ef))
    allowed = np.asarray(allowed, dtype=np.int64)
    if len(allowed) <= max(current().index.exact_subset_max, index.ntotal // 8) or n > len(allowed) // 2:
        return _exact_subset(index, q, n, allowed, vectors)
    sel = selector if selector is not None else faiss.IDSelectorBatch(allowed)
    wider = int(min(ef * index.ntotal / len(allowed), 4 * ef + 1024))
    scores, ids = index.search(q, n, params=faiss.SearchParametersHNSW(sel=sel, efSearch=wider))
    if (ids < 0).any():
        return _exact_subset(index, q, n, allowed, vectors)
    return scores, ids


def exact_search(vectors: np.ndarray, queries: np.ndarray, k: int, block: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by inner product, computed in row blocks (ground truth for recall at any size)."""
    q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    best_s = np.full((len(q), 0), -np.inf, np.float32)
    best_i = np.zeros((len(q), 0), np.int64)
    for start in range(0, len(vectors), block):
        blk = np.asarray(vectors[start:start + block], dtype=np.float32)
        s = q @ blk.T
        kk = min(k, s.shape[1])
        top = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        best_s = np.concatenate([best_s, np.take_along_axis(s, top, 1)], 1)
        best_i = np.concatenate([best_i, top + start], 1)
        keep = np.argsort(-best_s, axis=1, kind="stable")[:, :k]
        best_s, best_i = np.take_along_axis(best_s, keep, 1), np.take_along_axis(best_i, keep, 1)
    return best_s, best_i


def recall_at_k(approx_ids: np.ndarray, exact_ids: np.ndarray, k: int = 10) -> float:
    """Mean fraction of the exact top-k ids that the approximate top-k found."""
    hits = [len(set(a[:k].tolist()) & set(e[:k].tolist())) / max(1, min(k, len(e))) for a, e in zip(approx_ids, exact_ids)]
    return float(np.mean(hits)) if hits else 1.0


def recall_at_k_ties(approx_ids: np.ndarray, exact_scores: np.ndarray, vectors, queries: np.ndarray, k: int = 10,
                     tol: float = 1e-5) -> float:
    """Like `recall_at_k`, but a returned row scoring as high as the exact k-th row counts as found: an index
    holding the same words twice (a "Thank you." said in many briefings) has equal-score rows, and which copy
    an exact search lists is arbitrary."""
    found = 0
    for a, s, q in zip(approx_ids, exact_scores, queries):
        a = a[:k][a[:k] >= 0]
        true = np.asarray(vectors[np.sort(a)], dtype=np.float32) @ q if len(a) else np.zeros(0)
        found += int(np.sum(true >= s[min(k, len(s)) - 1] - tol))
    return found / max(1, k * len(exact_scores))
