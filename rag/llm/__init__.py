"""The language model behind answers, whichever way it runs: one `ChatModel` protocol, three backends.
Takes a model choice (None, a local GGUF file or transformers folder, a server URL, or a loaded model);
gives a `ChatModel` whose `stream(messages, max_new_tokens)` yields text pieces.

- transformers (rag.llm.transformers_backend): model folders, and GGUF files when llama.cpp is absent
  (the default install compiles nothing).
- llama.cpp (rag.llm.llama_backend): GGUF files run quantised with their own chat template, when the
  `[llama]` extra is installed (settings.answer.gguf_runtime: auto | llama | transformers).
- server (rag.llm.server_backend): an OpenAI-compatible endpoint, `--llm http://HOST:PORT/v1`
  (settings.answer.llm_url / llm_model), e.g. Ollama, llama.cpp's server, vLLM, LM Studio.

Whatever writes the text, every sentence is checked against the passages by rag.answer.verify: a
bigger model changes how much of its text passes, never what the checker accepts.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Iterator, Optional, Protocol, Union, runtime_checkable

from rag.errors import RagError
from rag.llm import llama_backend, transformers_backend
from rag.llm.paths import resolve_model_path
from rag.llm.server_backend import ModelUnavailable, ServerLLM, base_url
from rag.settings import current

__all__ = ["ChatModel", "ModelUnavailable", "get_model", "check_model", "describe", "resolve_model_path", "is_server_url"]


@runtime_checkable
class ChatModel(Protocol):
    """What the answer pipeline needs of a language model."""
    name: str
    backend: str        # "transformers", "llama.cpp" or "server"

    def stream(self, messages: list[dict], max_new_tokens: int = 200) -> Iterator[str]: ...

    def generate(self, messages: list[dict], max_new_tokens: int = 200) -> str: ...


ModelChoice = Union[None, str, os.PathLike, ChatModel]

_MODELS: dict[tuple, ChatModel] = {}
_LOCK = threading.Lock()


def is_server_url(model) -> bool:
    return isinstance(model, str) and model.strip().lower().startswith(("http://", "https://"))


def gguf_runtime() -> str:
    """'llama' or 'transformers': how a GGUF file runs (settings.answer.gguf_runtime; auto = llama.cpp if installed)."""
    choice = current().answer.gguf_runtime
    if choice == "auto":
        return "llama" if llama_backend.available() else "transformers"
    if choice == "llama" and not llama_backend.available():
        raise RagError("RAG_GGUF_RUNTIME=llama but llama-cpp-python is not installed "
                       "(pip install 'briefing-rag[llama]')")
    return choice


def _key(model: ModelChoice) -> tuple:
    """What identifies the model `model` names (checked now: a bad path or URL fails before anything loads)."""
    a = current().answer
    if model is None and a.llm_url:     # a server from the settings is a server, whatever its URL looks like
        return ("server", base_url(a.llm_url), a.llm_model or "")
    if is_server_url(model):
        return ("server", base_url(model), a.llm_model or "")
    path = resolve_model_path(model)
    if path.is_file():
        return (gguf_runtime(), str(path))
    return ("transformers", str(path))


def check_model(model: ModelChoice) -> None:
    """Fail now with a clear RagError when `model` names no usable model (a server is not contacted)."""
    if not isinstance(model, ChatModel):
        _key(model)


def describe(model: ModelChoice = None) -> str:
    """Which model answers and how it runs, without loading it: 'SmolLM2-135M-Instruct.Q4_1 (llama.cpp)'."""
    if isinstance(model, ChatModel):
        return f"{model.name} ({model.backend})"
    key = _key(model)
    if key[0] == "server":
        return f"{key[2] or 'the first model'} at {key[1]} (server)"
    return f"{Path(key[1]).name} ({'llama.cpp' if key[0] == 'llama' else 'transformers'})"


def get_model(model: ModelChoice = None) -> ChatModel:
    """The process-wide model for `model`, loaded on first use and then shared.

    None: the server of settings.answer.llm_url when set, else the bundled SmolLM2-135M-Instruct GGUF.
    A string starting with http(s)://: an OpenAI-compatible server (model name: settings.answer.llm_model,
    else the server's first). Any other string or path: a local GGUF file or transformers model folder.
    A loaded model is returned as it is.
    """
    if isinstance(model, ChatModel):
        return model
    key = _key(model)
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = _load(key)
        return _MODELS[key]


def _load(key: tuple) -> ChatModel:
    kind = key[0]
    if kind == "server":
        a, r = current().answer, current().runtime
        return ServerLLM(key[1], key[2] or None, api_key=r.llm_api_key, connect_timeout_s=a.llm_connect_timeout_s,
                         idle_timeout_s=a.llm_idle_timeout_s, total_timeout_s=a.llm_total_timeout_s)
    if kind == "llama":
        return llama_backend.LlamaLLM(Path(key[1]))
    return transformers_backend.load_model(key[1])
