"""A GGUF model run natively by llama.cpp (the optional `[llama]` extra: llama-cpp-python), quantised as shipped.
Takes a GGUF path and chat messages; gives streamed text, written with the model's own chat template.

transformers de-quantises a GGUF file into float32 (a 7B Q4 file of ~4 GB would need ~28 GB); llama.cpp
runs the quantised weights directly. Decoding is greedy (temperature 0) like the transformers backend;
llama.cpp's repetition penalty looks at the last 64 tokens. One `LlamaLLM` is shared by all threads:
a lock serialises generation, so concurrent chats queue and each streams its own reply.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Iterator

from rag.errors import RagError
from rag.settings import current

REPETITION_PENALTY = 1.1


def available() -> bool:
    """Whether llama-cpp-python is installed (`pip install 'briefing-rag[llama]'`)."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return False
    return True


class LlamaLLM:
    """A GGUF chat model in llama.cpp; `stream()` yields text pieces as they are generated."""
    backend = "llama.cpp"

    def __init__(self, gguf: Path):
        from llama_cpp import Llama
        cfg = current()
        t0 = time.perf_counter()
        try:
            self.llama = Llama(model_path=str(gguf), n_ctx=cfg.answer.llm_context,
                               n_threads=cfg.runtime.llm_threads or os.cpu_count() or 1, verbose=False)
        except Exception as e:   # unsupported architecture, truncated file ...
            raise RagError(f"{gguf}: llama.cpp cannot load this GGUF model: {e}") from e
        self.source = gguf
        self.name = gguf.stem
        self.load_s = time.perf_counter() - t0
        self.context_length = self.llama.n_ctx()
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def stream(self, messages: list[dict], max_new_tokens: int = 200) -> Iterator[str]:
        """Yield pieces of the reply to chat `messages`; closing the generator stops generation."""
        with self._lock:
            try:
                chunks = self.llama.create_chat_completion(messages=messages, stream=True, max_tokens=max_new_tokens,
                                                           temperature=0.0, repeat_penalty=REPETITION_PENALTY)
                for chunk in chunks:
                    piece = chunk["choices"][0].get("delta", {}).get("content")
                    if piece:
                        yield piece
            except ValueError as e:   # llama-cpp-python's "Requested tokens (...) exceed context window"
                raise RagError(f"generation with {self.name} failed: {e}") from e

    def generate(self, messages: list[dict], max_new_tokens: int = 200) -> str:
        return "".join(self.stream(messages, max_new_tokens=max_new_tokens))
