"""The "server" embedding backend (rag.encoders.server_encoder): a model on an OpenAI-compatible /v1/embeddings
endpoint. The stand-in server here runs the bundled MiniLM (int8 ONNX, the default backend), so an index built
through it must hold the very vectors a local build holds, and search the same."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from rag import Index
from rag.encoders import Embedder
from rag.errors import RagError

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "briefings"
QUESTIONS = ["North Korea policy review", "What did Blinken say about Taiwan?", "Arctic cooperation with Russia",
             "humanitarian aid to Afghanistan through the UN"]


@pytest.fixture(scope="module")
def server():
    """An embeddings endpoint on a free local port, serving the bundled model; counts the texts it embedded."""
    local = Embedder()   # the default backend, as the session's sample index
    seen = {"texts": 0, "models": set()}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path != "/v1/embeddings":
                self.send_response(404)
                self.end_headers()
                return
            texts = body["input"]
            seen["texts"] += len(texts)
            seen["models"].add(body["model"])
            vecs = local.encode(texts)
            data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vecs)]
            data.reverse()   # servers may answer out of order: the encoder puts them back by "index"
            out = json.dumps({"object": "list", "data": data, "model": body["model"]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", seen, httpd
    httpd.shutdown()


def test_an_index_built_through_a_model_server_holds_the_local_vectors_and_searches_the_same(server, sample_index,
                                                                                             tmp_path):
    url, seen, _ = server
    spec = f"minilm@{url}"
    idx = Index.build([str(SAMPLE)], path=tmp_path / "index", model=spec, backend="server", progress=False)
    m = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert m["embedding"]["backend"] == "server" and m["embedding"]["name"] == spec and m["embedding"]["dim"] == 384
    assert seen["models"] == {"minilm"} and seen["texts"] >= len(idx)
    assert [c.chunk_id for c in idx.chunks] == [c.chunk_id for c in sample_index.chunks]
    assert np.allclose(np.asarray(idx.vectors), np.asarray(sample_index.vectors), atol=1e-5)
    reopened = Index.open(tmp_path / "index")          # the query goes to the server too
    for q in QUESTIONS:
        for mode in ("dense", "hybrid"):
            assert [h.chunk_id for h in reopened.search(q, k=5, mode=mode)] == \
                   [h.chunk_id for h in sample_index.search(q, k=5, mode=mode)], (q, mode)
    with pytest.raises(RagError, match="built with embedding model"):
        Index.open(tmp_path / "index", model=f"other@{url}", backend="server")
    with pytest.raises(RagError, match="fine-tunes a local model"):
        reopened.tune(epochs=1, progress=False)


def test_a_server_that_is_down_is_a_clear_error_and_loses_nothing_indexed(tmp_path):
    url = "http://127.0.0.1:9/v1"   # the discard port: nothing listens there
    with pytest.raises(RagError, match=r"embedding server http://127\.0\.0\.1:9/v1 .*cannot be reached"):
        Index.build([str(SAMPLE)], path=tmp_path / "index", model=f"minilm@{url}", backend="server", progress=False)
    idx = Index.open(tmp_path / "index")               # phase 1 was committed: the words are searchable
    assert len(idx) > 0 and idx.view.embedded == 0
    assert idx.search("North Korea policy review", k=3, mode="bm25")
    # with no vector yet, hybrid search ranks by BM25 (and its other votes) and asks no model for the query: the
    # server is still down
    hits = idx.search("North Korea policy review", k=3)
    assert len(hits) == 3 and not any(h.dense for h in hits)


@pytest.mark.parametrize("spec", [None, "nomic-embed-text", "@http://localhost:11434/v1", "m@not a url"])
def test_a_server_model_is_named_model_at_url(spec):
    with pytest.raises(RagError, match="MODEL@URL|not a model server URL"):
        Embedder(spec, backend="server")
