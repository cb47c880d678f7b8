"""A real OpenAI-compatible model server on loopback, for tests and `rag bench`: llama-cpp-python's server.
Takes a GGUF file (default: the bundled SmolLM2); gives a running server's /v1 URL, stopped on exit.

    with LlamaServer() as url:          # "http://127.0.0.1:PORT/v1"
        Index.open("index").ask("...", model=url)

Needs the `[llama]` extra (llama-cpp-python with its server dependencies). The server is a child process
on a free loopback port; `stop()` ends it (and is how the tests make it unreachable).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import httpx

from rag.errors import RagError
from rag.llm.paths import resolve_model_path
from rag.settings import child_environment


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """`python -m llama_cpp.server` serving one GGUF file on 127.0.0.1."""

    def __init__(self, gguf: Optional[str] = None, alias: str = "smollm2", threads: Optional[int] = None,
                 context: int = 4096, start_timeout_s: float = 120.0):
        self.gguf = resolve_model_path(gguf)
        self.alias = alias
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.threads = threads or os.cpu_count() or 1
        self.context = context
        self.start_timeout_s = start_timeout_s
        self.proc: Optional[subprocess.Popen] = None
        self.log = Path(os.devnull)

    def start(self, log: Optional[Path] = None) -> str:
        self.log = log or Path(os.devnull)
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.gguf), "--model_alias", self.alias,
               "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(self.context),
               "--n_threads", str(self.threads)]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=child_environment())
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RagError(f"llama_cpp.server exited with code {self.proc.returncode} (is the [llama] extra "
                               f"installed? log: {self.log})")
            try:
                if httpx.get(f"{self.url}/models", timeout=1.0).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RagError(f"llama_cpp.server did not answer within {self.start_timeout_s:.0f} s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
