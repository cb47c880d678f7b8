"""Concurrent chats: the Gradio app (its queue, one shared index and model) serves 8 clients at once with no
errors and no cross-talk between sessions. A small version of eval/load_test.py."""
from __future__ import annotations

import importlib.util
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from reliability_util import ROOT

spec = importlib.util.spec_from_file_location("load_test", ROOT / "eval" / "load_test.py")
load_test = importlib.util.module_from_spec(spec)
spec.loader.exec_module(load_test)


@pytest.fixture(scope="module")
def app(sample_index, tmp_path_factory):
    from ui.app import CONCURRENCY, QUEUE_MAX, build_app, launch_options
    assert CONCURRENCY >= 8
    demo = build_app(sample_index, status="test", upload_dir=tmp_path_factory.mktemp("uploads"))
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_MAX)
    port = load_test.free_port()
    demo.launch(prevent_thread_lock=True, **launch_options("127.0.0.1", port, None))
    yield f"http://127.0.0.1:{port}/", sample_index
    demo.close()


def test_16_retrieval_questions_from_8_clients(app):
    """Every client gets the sources panel of ITS question (compared with a direct search), no errors."""
    url, index = app
    res = load_test.run(url, load_test.questions(16), clients=8, retrieval_only=True, request_timeout=300,
                        total_timeout=900, index=index, log=lambda s: None)
    print(res)
    assert res["completed"] == 16 and res["errors"] == 0, res["error_samples"]
    assert res["sources_mismatch"] == 0, res  # the panel holds the direct search's top passage (by chunk id)


def test_searches_from_many_threads_match_a_single_thread(sample_index):
    """The shared Index (one embedding model behind a lock, FAISS, BM25) gives each thread the same results as a
    single thread, for 8 threads x 6 questions at once."""
    qs = load_test.questions(48)
    want = {q: [h.chunk_id for h in sample_index.search(q, k=5)] for q in set(qs)}
    errors = []
    barrier = threading.Barrier(8)

    def work(share):
        barrier.wait()
        for q in share:
            got = [h.chunk_id for h in sample_index.search(q, k=5)]
            if got != want[q]:
                errors.append((q, got, want[q]))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, [qs[i::8] for i in range(8)]))
    assert not errors, errors[:3]


@pytest.mark.slow
def test_8_clients_with_the_real_model(app):
    """8 concurrent full answers (retrieval, the shared language model, the checker): no errors, each client's
    chat holds its own question, and its sources panel is the one for its question."""
    from ui import render
    url, index = app
    qs = load_test.questions(4) * 2   # 4 questions, each asked by two clients at once
    # greedy decoding: the same question gives the same answer, so each client's sources panel must be
    # exactly the one a direct ask() renders for its question
    expected = {q: render.render_answer_sources(index.ask(q)) for q in set(qs)}
    expected = {q: v[v.find('<div class="src-card"'):][:400] for q, v in expected.items()}  # its first card
    res = load_test.run(url, qs, clients=8, retrieval_only=False, request_timeout=1200,
                        total_timeout=1800, index=index, log=print, expected=expected)
    print(res)
    assert res["completed"] == 8 and res["errors"] == 0, res["error_samples"]
