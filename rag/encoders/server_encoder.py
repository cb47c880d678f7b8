"""An embedding model behind an OpenAI-compatible endpoint: the "server" backend of rag.encoders.Embedder.
Takes texts; gives L2-normalised float32 vectors, as the local backends do.

A stronger embedder than the bundled MiniLM, run by the user (Ollama, llama.cpp's server, vLLM, Text Embeddings
Inference, LM Studio ...), for the dense ranking.

- The model is named `MODEL@URL` ("nomic-embed-text@http://localhost:11434/v1"): the index records that name with
  the backend "server", so it reopens with the same model on the same server, and refuses another.
- `POST {url}/embeddings` with `{"model": MODEL, "input": [texts]}`; the reply's `data[i].embedding`, put back in
  the order of `data[i].index`. Vectors are normalised here (servers differ on that).
- Chunks are still sized by the bundled MiniLM's word pieces (at most 256), which every embedding model's window
  holds; the server's own tokenizer is never needed.
- The API key (settings.runtime.llm_api_key: $RAG_LLM_API_KEY, else $OPENAI_API_KEY) is sent as a bearer token and
  never shown. A server that is down, slow or answers something else is a RagError naming the URL: nothing is
  committed with missing vectors (phase 2 resumes on the next ingest).
"""
from __future__ import annotations

from typing import Optional, Sequence

import httpx
import numpy as np

from rag.errors import RagError
from rag.llm.server_backend import base_url
from rag.resources import default_embedding_model_path, word_pieces
from rag.settings import current


def parse_spec(spec: Optional[str]) -> tuple[str, str]:
    """("nomic-embed-text", "http://localhost:11434/v1") from "nomic-embed-text@http://localhost:11434/v1"."""
    model, sep, url = (spec or "").partition("@")
    if not sep or not model.strip() or not url.strip():
        raise RagError(f"the server embedding backend needs its model as MODEL@URL "
                       f"(e.g. nomic-embed-text@http://localhost:11434/v1), not {spec!r}")
    return model.strip(), base_url(url.strip().removesuffix("/embeddings"))


class ServerEncoder:
    """`encode(texts) -> (n, dim)` over HTTP; the interface rag.encoders.Embedder uses for its other backends."""

    max_seq_length = 256   # chunks are cut to the bundled tokenizer's 256 word pieces (rag.ingest.chunker)

    def __init__(self, spec: str, timeout_s: Optional[float] = None):
        self.model, self.url = parse_spec(spec)
        cfg = current()
        headers = {"Authorization": f"Bearer {cfg.runtime.llm_api_key}"} if cfg.runtime.llm_api_key else {}
        self._client = httpx.Client(headers=headers, timeout=timeout_s or cfg.index.embed_server_timeout_s)
        self._dim: Optional[int] = None

    def __repr__(self) -> str:   # never the API key
        return f"ServerEncoder({self.model!r} at {self.url})"

    @property
    def tokenizer(self):
        """The bundled MiniLM's word pieces: what chunks are sized by."""
        return word_pieces(default_embedding_model_path())

    def get_embedding_dimension(self) -> int:
        if self._dim is None:
            self._dim = int(self._post(["dimension"]).shape[1])
        return self._dim

    def encode(self, texts: Sequence[str], batch_size: int = 64, **_) -> np.ndarray:
        texts = list(texts)
        parts = [self._post(texts[i:i + batch_size]) for i in range(0, len(texts), max(1, batch_size))]
        vecs = np.vstack(parts) if parts else np.zeros((0, self.get_embedding_dimension()), np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        if np.any(norms == 0):
            raise RagError(f"embedding server {self.url} gave a zero vector (model {self.model!r})")
        return (vecs / norms).astype(np.float32)

    def _post(self, texts: list[str]) -> np.ndarray:
        where = f"embedding server {self.url} (model {self.model!r})"
        try:
            r = self._client.post(f"{self.url}/embeddings", json={"model": self.model, "input": texts})
        except httpx.HTTPError as e:
            raise RagError(f"{where} cannot be reached: {type(e).__name__}: {e}") from None
        if r.status_code != 200:
            raise RagError(f"{where} answered HTTP {r.status_code}: {r.text[:200]!r}")
        try:
            data = sorted(r.json()["data"], key=lambda d: d.get("index", 0))
            vecs = np.asarray([d["embedding"] for d in data], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as e:
            raise RagError(f"{where} did not answer with OpenAI-style embeddings ({type(e).__name__}: {e})") from None
        if vecs.ndim != 2 or len(vecs) != len(texts):
            raise RagError(f"{where} gave {len(vecs)} vectors for {len(texts)} texts")
        if self._dim is not None and vecs.shape[1] != self._dim:
            raise RagError(f"{where} changed its vectors' size from {self._dim} to {vecs.shape[1]}")
        self._dim = int(vecs.shape[1])
        return vecs
