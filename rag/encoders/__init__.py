"""Encoders: texts -> unit vectors, for chunks and queries; the `Encoder` protocol every stage relies on.
Takes texts; gives float32 (n, dim) arrays. `Embedder` is the implementation (torch, ONNX, or a model server).
"""
from __future__ import annotations

from typing import Optional, Protocol, Sequence, runtime_checkable

import numpy as np

from rag.encoders.embedder import BACKENDS, DEFAULT_MODEL_NAME, Embedder, model_identity, model_name, resolve_backend


@runtime_checkable
class Encoder(Protocol):
    """What retrieval, answers and the index need of an embedding model."""
    name: str
    backend: str

    def encode(self, texts: Sequence[str], batch_size: Optional[int] = None) -> np.ndarray: ...

    def encode_query(self, query: str) -> np.ndarray: ...

    @property
    def dim(self) -> int: ...

    @property
    def tokenizer(self): ...


__all__ = ["BACKENDS", "DEFAULT_MODEL_NAME", "Embedder", "Encoder", "model_identity", "model_name", "resolve_backend"]
