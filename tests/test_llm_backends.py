"""The three ways a model writes the summary: transformers, native GGUF (llama.cpp) and an OpenAI-compatible
server. The server tests run llama-cpp-python's own server on loopback with the bundled SmolLM2 GGUF (a real
server, not a mock); the failure cases (down, slow, garbage, refused key) use real sockets too."""
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rag.answer import Done, Status, Text
from rag.errors import RagError
from rag.llm import ModelUnavailable, check_model, get_model, llama_backend
from rag.llm.server_backend import ServerLLM, base_url
from rag.settings import current, replace, use

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "What did the officials say about the end-of-war declaration for the Korean Peninsula?"
MESSAGES = [{"role": "user", "content": "In one sentence: what is a press briefing?"}]


@pytest.fixture(scope="module")
def llama():
    if not llama_backend.available():
        if os.environ.get("RAG_REQUIRE_LLAMA") == "1":
            pytest.fail("llama-cpp-python is not installed but RAG_REQUIRE_LLAMA=1 (make llama)")
        pytest.skip("llama-cpp-python not installed (the [llama] extra)")


@pytest.fixture(scope="module")
def server(llama, tmp_path_factory):
    from rag.evaluation.model_server import LlamaServer
    s = LlamaServer()
    s.start(log=tmp_path_factory.mktemp("llama-server") / "server.log")
    yield s
    s.stop()


def _set(**answer):
    use(replace(current(), answer=replace(current().answer, **answer)))


def _ask(index, question=QUESTION, **kw):
    events = list(index.ask_stream(question, **kw))
    return events, events[-1].answer


# ----------------------------------------------------------------------------- choosing a backend

def test_a_gguf_file_runs_natively_with_its_own_chat_template(llama):
    m = get_model(None)
    assert m.backend == "llama.cpp"
    assert m.llama.chat_format == "chat_template.default"   # the template stored in the GGUF file
    pieces = list(m.stream(MESSAGES, max_new_tokens=24))
    assert len(pieces) > 3 and "".join(pieces).strip()
    assert m.generate(MESSAGES, max_new_tokens=24) == "".join(pieces)   # greedy: the same reply twice


def test_the_transformers_path_stays_for_gguf_when_asked():
    _set(gguf_runtime="transformers")
    m = get_model(None)
    assert m.backend == "transformers" and type(m).__name__ == "TransformersLLM"


def test_answers_from_the_native_gguf_model_are_cited_and_checked(llama, sample_index):
    events, ans = _ask(sample_index)
    assert not ans.abstained and ans.citations
    assert ans.model.backend == "llama.cpp" and ans.model.error is None
    assert ans.model.sentences_read >= 1 and 0 <= ans.model.sentences_shown <= ans.model.sentences_read
    assert "".join(e.text for e in events if isinstance(e, Text)) == ans.answer
    assert {c.speaker for c in ans.citations} <= {h.speaker for h in ans.passages}


def test_bad_model_choices_fail_before_anything_loads(tmp_path):
    with pytest.raises(RagError, match="not a model server URL"):
        check_model("http://")
    with pytest.raises(RagError, match="bad port"):
        check_model("http://localhost:99999999/v1")
    with pytest.raises(RagError, match="no such model file"):
        check_model(str(tmp_path / "missing.gguf"))
    assert base_url("http://h:8080") == "http://h:8080/v1"
    assert base_url("http://h:8080/v1/chat/completions") == "http://h:8080/v1"


# ----------------------------------------------------------------------------- a real server

def test_a_server_streams_the_summary_and_the_answer_keeps_its_citations(server, sample_index):
    llm = get_model(server.url)
    assert llm.backend == "server" and llm.check() == "smollm2"   # the first model the server lists
    pieces = list(llm.stream(MESSAGES, max_new_tokens=24))
    assert len(pieces) > 3, "the reply arrives in pieces, not at once"
    # the same model through the server and natively: greedy decoding gives the same words
    assert "".join(pieces).strip() == get_model(None).generate(MESSAGES, max_new_tokens=24).strip()
    events, ans = _ask(sample_index, model=server.url)
    assert [e.text for e in events if isinstance(e, Status)] == ["searching", "writing"]
    assert not ans.abstained and ans.citations
    assert ans.model.backend == "server" and ans.model.name == f"smollm2 at {server.url}"
    assert ans.model.error is None and ans.model.sentences_read >= 1


def test_a_server_named_in_settings_answers_without_a_model_argument(server, sample_index):
    _set(llm_url=server.url, llm_model="smollm2")
    _, ans = _ask(sample_index)
    assert ans.model.backend == "server" and ans.model.error is None


def test_cli_ask_through_a_server(server, sample_index):
    p = subprocess.run([sys.executable, "-m", "rag.cli", "ask", QUESTION, "--index", str(sample_index.path), "--json",
                        "--llm", server.url, "--llm-model", "smollm2"], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    ans = json.loads(p.stdout)
    assert ans["model"]["backend"] == "server" and ans["model"]["error"] is None and ans["citations"]


def test_cli_refuses_a_local_model_and_a_server_together(sample_index):
    p = subprocess.run([sys.executable, "-m", "rag.cli", "ask", QUESTION, "--index", str(sample_index.path),
                        "--llm", "http://127.0.0.1:9/v1", "--model", "x.gguf"], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2 and "not both" in p.stderr
    p = subprocess.run([sys.executable, "-m", "rag.cli", "ask", QUESTION, "--index", str(sample_index.path),
                        "--llm", "localhost:8080"], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2 and "not a model server URL" in p.stderr and "Traceback" not in p.stderr


def test_a_stopped_server_costs_the_summary_not_the_checked_answer(llama, sample_index, tmp_path):
    from rag.evaluation.model_server import LlamaServer
    s = LlamaServer()
    url = s.start(log=tmp_path / "server.log")
    _, up = _ask(sample_index, model=url)
    s.stop()
    t = time.perf_counter()
    events, ans = _ask(sample_index, model=url)
    assert time.perf_counter() - t < 15
    assert ans.model.error and "unreachable" in ans.model.error
    assert ans.answer.rstrip().endswith("The quotes above are checked against the briefings.")
    assert ans.answer.count("No summary:") == 1 and not ans.abstained
    # the digest and its citations are what they were with the server up
    assert ans.answer.startswith(up.answer.split("\n\n")[0])
    assert [(c.n, c.chunk_id) for c in ans.citations] == [(c.n, c.chunk_id) for c in up.citations
                                                         if f"[{c.n}]" in ans.answer]
    assert "".join(e.text for e in events if isinstance(e, Text)) == ans.answer


# ----------------------------------------------------------------------------- servers that misbehave (real sockets)

class _Handler(http.server.BaseHTTPRequestHandler):
    behaviour = "garbage"
    seen_auth: list = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        self._send(200, "application/json", json.dumps({"data": [{"id": "m"}]}).encode())

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).seen_auth.append(self.headers.get("Authorization"))
        b = self.behaviour
        if b == "garbage":
            self._send(200, "text/html", b"<html><body>It works!</body></html>")
        elif b == "refused":
            self._send(401, "application/json", b'{"error": "invalid api key"}')
        elif b == "silent":          # headers, then nothing
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.flush()
            time.sleep(5)
        elif b == "trickle":         # a piece every 0.3 s, never done
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            try:
                for _ in range(40):
                    chunk = {"choices": [{"delta": {"content": "word "}}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                    time.sleep(0.3)
            except (BrokenPipeError, ConnectionResetError):
                pass

    def _send(self, code, ctype, body):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def odd_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _odd(srv, behaviour, **limits):
    _Handler.behaviour = behaviour
    _Handler.seen_auth = []
    return ServerLLM(f"http://127.0.0.1:{srv.server_address[1]}/v1", **limits)


def test_a_server_answering_garbage_is_reported_not_shown(odd_server):
    with pytest.raises(ModelUnavailable, match="not an OpenAI-compatible chat stream"):
        _odd(odd_server, "garbage").generate(MESSAGES)


def test_a_silent_server_is_cut_off_at_the_idle_limit(odd_server):
    llm = _odd(odd_server, "silent", idle_timeout_s=1.0)
    t = time.perf_counter()
    with pytest.raises(ModelUnavailable, match="no reply within the time limit"):
        llm.generate(MESSAGES)
    assert time.perf_counter() - t < 4


def test_a_server_that_never_finishes_is_cut_off_at_the_total_limit(odd_server):
    llm = _odd(odd_server, "trickle", total_timeout_s=1.5)
    got = []
    t = time.perf_counter()
    with pytest.raises(ModelUnavailable, match="did not finish its reply within 2 s"):
        for piece in llm.stream(MESSAGES):
            got.append(piece)
    assert 1.5 <= time.perf_counter() - t < 4 and got


def test_the_api_key_is_sent_and_never_shown(odd_server, caplog):
    key = "sk-test-0123456789abcdef"
    llm = _odd(odd_server, "refused", api_key=key)
    with pytest.raises(ModelUnavailable) as e:
        llm.generate(MESSAGES)
    assert _Handler.seen_auth == [f"Bearer {key}"]
    assert "HTTP 401" in str(e.value) and "RAG_LLM_API_KEY" in str(e.value)
    assert key not in str(e.value) and key not in repr(llm) and key not in caplog.text


def test_the_api_key_comes_from_the_environment_and_is_not_in_settings_repr():
    from rag.settings import from_env
    s = from_env({"OPENAI_API_KEY": "sk-a", "RAG_LLM_URL": "http://h:1/v1"})
    assert s.runtime.llm_api_key == "sk-a" and "sk-a" not in repr(s)
    assert from_env({"OPENAI_API_KEY": "sk-a", "RAG_LLM_API_KEY": "sk-b"}).runtime.llm_api_key == "sk-b"
    with pytest.raises(RagError, match="RAG_GGUF_RUNTIME"):
        from_env({"RAG_GGUF_RUNTIME": "gpu"})


def test_an_unreachable_host_does_not_hang_an_answer(sample_index):
    # a port nothing listens on: refused at once; the digest is shown with one line saying why
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = time.perf_counter()
    _, ans = _ask(sample_index, model=f"http://127.0.0.1:{port}/v1")
    assert time.perf_counter() - t < 15
    assert not ans.abstained and ans.citations and ans.model.error
    assert "No summary: the model server at" in ans.answer


def test_the_chat_names_its_model_and_answers_when_the_server_is_down(sample_index):
    from ui.handlers import ChatHandlers
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    h = ChatHandlers(sample_index, model=url)
    assert f"Model: the first model at {url} (server)" in h.status_line()
    *_, last = h.respond(QUESTION, [], [], "any", "any", "any", "", "", False, "answer")   # not a survey
    reply = last[0][-1]["content"]
    assert "No summary: the model server at" in reply and "unreachable" in reply
    assert any(f"\\[{n}\\]" in reply for n in range(1, 6))   # the checked digest, cited (markdown-escaped)


def test_a_follow_up_waits_for_a_silent_server_once_not_twice(odd_server, sample_index):
    # the rewrite of the follow-up times out; the summary does not ask the same server again
    llm = _odd(odd_server, "silent", idle_timeout_s=1.0)
    history = [("What did the officials say about the end-of-war declaration for the Korean Peninsula?", "...")]
    t = time.perf_counter()
    _, ans = _ask(sample_index, "And what about North Korea's policy review?", history=history, model=llm)
    assert len(_Handler.seen_auth) == 1 and time.perf_counter() - t < 8
    assert ans.model.error and "no reply within the time limit" in ans.model.error
    assert ans.search_query != "And what about North Korea's policy review?"   # rewritten without the model
