"""A model behind an OpenAI-compatible chat endpoint (Ollama, llama.cpp's server, vLLM, LM Studio ...).
Takes a base URL (`http://HOST:PORT/v1`), a model name and chat messages; gives streamed text, or
`ModelUnavailable` when the server is down, too slow or answers something that is not a chat stream.

- `POST {url}/chat/completions` with `"stream": true`, read as server-sent events; greedy decoding
  (temperature 0). Without a model name, the first model `GET {url}/models` lists is used.
- Time limits (settings.answer): connecting, the wait for each next piece (the first one included:
  a prompt is read before the first token), and the whole reply. Past any of them the reply stops
  with `ModelUnavailable` and the answer keeps its checked quotes.
- The API key (settings.runtime.llm_api_key: $RAG_LLM_API_KEY, else $OPENAI_API_KEY) is sent as a
  bearer token and never shown: not in errors, logs or `repr`.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Iterator, Optional
from urllib.parse import urlsplit

import httpx

from rag.errors import RagError


class ModelUnavailable(RagError):
    """The model server could not be reached or did not give a usable reply (the answer goes on without it)."""


def base_url(url: str) -> str:
    """`url` as an API base: 'http://host:8080' -> 'http://host:8080/v1'; a trailing /chat/completions dropped."""
    u = (url or "").strip().rstrip("/")
    parts = urlsplit(u)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RagError(f"{url!r} is not a model server URL (expected http://HOST:PORT/v1)")
    try:
        parts.port
    except ValueError:
        raise RagError(f"{url!r} is not a model server URL: bad port") from None
    for tail in ("/chat/completions", "/completions"):
        if u.endswith(tail):
            u = u[: -len(tail)]
    return u if urlsplit(u).path not in ("", "/") else u + "/v1"


def _reason(e: Exception) -> str:
    if isinstance(e, httpx.ConnectTimeout):
        return "no connection within the time limit"
    if isinstance(e, httpx.ConnectError):
        return "connection refused or host not found"
    if isinstance(e, httpx.ReadTimeout):
        return "no reply within the time limit"
    if isinstance(e, httpx.RemoteProtocolError):
        return "the connection was cut"
    return type(e).__name__


class ServerLLM:
    """A chat model on an OpenAI-compatible server; `stream()` yields text pieces as they arrive."""
    backend = "server"

    def __init__(self, url: str, model: Optional[str] = None, api_key: Optional[str] = None,
                 connect_timeout_s: float = 5.0, idle_timeout_s: float = 60.0, total_timeout_s: float = 120.0):
        self.url = base_url(url)
        self._model = model or None
        self._api_key = api_key or None
        self.total_timeout_s = total_timeout_s
        self.load_s = 0.0
        self.context_length = None      # the server's business; a prompt too long is its error to report
        self._timeout = httpx.Timeout(connect=connect_timeout_s, read=idle_timeout_s, write=idle_timeout_s,
                                      pool=connect_timeout_s)
        self._client = httpx.Client(timeout=self._timeout, follow_redirects=False, trust_env=False)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ServerLLM({self.url!r}, model={self._model!r})"

    @property
    def name(self) -> str:
        return f"{self._model or 'model'} at {self.url}"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def _fail(self, what: str) -> ModelUnavailable:
        return ModelUnavailable(f"the model server at {self.url} {what}")

    def model(self) -> str:
        """The model name to ask for: the one given, else the first the server lists."""
        with self._lock:
            if self._model:
                return self._model
            try:
                r = self._client.get(f"{self.url}/models", headers=self._headers())
            except httpx.HTTPError as e:
                raise self._fail(f"is unreachable ({_reason(e)})") from None
            if r.status_code != 200:
                raise self._fail(f"answered HTTP {r.status_code} when asked for its models")
            try:
                self._model = str(r.json()["data"][0]["id"])
            except (ValueError, KeyError, IndexError, TypeError):
                raise self._fail("does not list its models as an OpenAI-compatible server does; "
                                 "name one with --llm-model") from None
            return self._model

    def check(self) -> str:
        """The served model's name, or ModelUnavailable (used at start-up to warn early)."""
        return self.model()

    def stream(self, messages: list[dict], max_new_tokens: int = 200) -> Iterator[str]:
        """Yield pieces of the reply to chat `messages`; closing the generator closes the connection."""
        body = {"model": self.model(), "messages": messages, "stream": True, "max_tokens": max_new_tokens,
                "temperature": 0}
        deadline = time.monotonic() + self.total_timeout_s
        try:
            with self._client.stream("POST", f"{self.url}/chat/completions", json=body,
                                     headers=self._headers()) as r:
                if r.status_code != 200:
                    detail = " ".join(r.read().decode("utf-8", "replace").split())[:200]
                    hint = "; check RAG_LLM_API_KEY" if r.status_code in (401, 403) else ""
                    raise self._fail(f"answered HTTP {r.status_code}{hint}: {detail}")
                if "json" in r.headers.get("content-type", "") and "event-stream" not in r.headers.get("content-type", ""):
                    yield self._whole(r.read())     # a server that ignores "stream": one JSON reply
                    return
                yield from self._events(r.iter_lines(), deadline)
        except httpx.HTTPError as e:
            raise self._fail(f"is unreachable ({_reason(e)})") from None

    def _events(self, lines: Iterator[str], deadline: float) -> Iterator[str]:
        got_event = False
        for line in lines:
            if time.monotonic() > deadline:
                raise self._fail(f"did not finish its reply within {self.total_timeout_s:.0f} s")
            line = line.strip()
            if not line or line.startswith(":"):
                continue
            if not line.startswith("data:"):
                if line.split(":", 1)[0] in ("event", "id", "retry"):
                    continue
                raise self._fail("sent something that is not an OpenAI-compatible chat stream")
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                event = json.loads(data)
                if "error" in event:
                    raise self._fail(f"reported an error: {str(event['error'])[:200]}")
                choices = event.get("choices") or []
                piece = (choices[0].get("delta") or {}).get("content") if choices else None
            except (ValueError, AttributeError, TypeError):
                raise self._fail("sent something that is not an OpenAI-compatible chat stream") from None
            got_event = True
            if piece:
                yield piece
        if not got_event:
            raise self._fail("closed the connection without a reply")

    def _whole(self, raw: bytes) -> str:
        try:
            return json.loads(raw)["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise self._fail("sent something that is not an OpenAI-compatible chat reply") from None

    def generate(self, messages: list[dict], max_new_tokens: int = 200) -> str:
        return "".join(self.stream(messages, max_new_tokens=max_new_tokens))
