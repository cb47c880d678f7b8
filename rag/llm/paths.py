"""Where a local language model is: a GGUF file or a transformers model folder, checked before anything loads.
Takes a path (or None for the bundled SmolLM2-135M-Instruct GGUF); gives the resolved file or folder.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from rag.errors import RagError
from rag.resources import default_llm_path


def resolve_model_path(path: Optional[str | os.PathLike] = None) -> Path:
    """The GGUF file or transformers folder to load; RagError when `path` is not a usable model."""
    if path is None:
        return default_llm_path()
    p = Path(path).expanduser()
    if not p.exists():
        raise RagError(f"{p}: no such model file or folder (give a local .gguf file or a transformers model folder, "
                       "or a server with --llm http://HOST:PORT/v1)")
    if p.is_file():
        if p.suffix.lower() != ".gguf":
            raise RagError(f"{p}: not a GGUF file (expected a .gguf file or a transformers model folder)")
        with open(p, "rb") as f:
            if f.read(4) != b"GGUF":
                raise RagError(f"{p}: not a valid GGUF file (bad magic number)")
        return p.resolve()
    if (p / "config.json").is_file():
        return p.resolve()
    ggufs = sorted(p.glob("*.gguf"))
    if len(ggufs) == 1:
        return resolve_model_path(ggufs[0])
    raise RagError(f"{p}: folder has no config.json (not a transformers model folder)"
                   + (f" and {len(ggufs)} .gguf files (name one)" if ggufs else ""))
