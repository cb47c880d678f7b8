"""Load test of the chat UI on loopback: N questions from C concurrent clients, errors and latency.

    python eval/load_test.py                         # starts the app on 127.0.0.1 (index/ or the sample)
    python eval/load_test.py --retrieval-only        # the retrieval-only path (no language model)
    python eval/load_test.py --url http://127.0.0.1:7860 --questions 50 --clients 8

Each client is its own Gradio session (gradio_client), asks its share of the questions one after
another through the app's `/ask` endpoint (the same queue the browser uses), and checks that the
reply is to ITS question: the chat echoes the question it sent, the reply is not an error message,
and (when this script started the app, so it holds the index) the sources panel is exactly the one
for that question. Prints errors (must be 0) and p50/p95/max latency; exits 1 on any error.
Bounded: at most --questions requests, each with --request-timeout, the whole run --timeout.
Loopback only: a --url that is not 127.0.0.0/8, ::1 or localhost is refused.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from urllib.parse import urlparse

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ERROR_MARKS = ("Something went wrong", "Could not answer", "The index is not available")
RETRIEVAL_ONLY_MARK = "retrieval only, no generated answer"   # ui.app.hits_markdown's heading


def questions(n: int) -> list[str]:
    """`n` questions about the bundled sample (retrieval set + gold set), cycled, each tagged so repeats differ."""
    qs = [q["question"] for q in json.loads((ROOT / "tests" / "retrieval_questions.json").read_text())]
    qs += [json.loads(x)["question"] for x in (ROOT / "eval" / "gold_sample.jsonl").read_text().splitlines()
           if x.strip()]
    base = list(dict.fromkeys(qs))
    return [base[i % len(base)] for i in range(n)]


def loopback_url(url: str) -> str:
    host = urlparse(url).hostname or ""
    ok = host in ("localhost",)
    try:
        ok = ok or ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if not ok:
        raise SystemExit(f"load_test: refusing {url}: this script only loads a server on this machine (loopback)")
    return url.rstrip("/") + "/"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(index_path: str | None):
    """Open (or build from the sample) an index and serve the app on a free loopback port, as `rag serve` does."""
    from ui.app import CONCURRENCY, QUEUE_MAX, build_app, launch_options, open_or_build, warm_up
    path = index_path or (str(ROOT / "index") if (ROOT / "index" / "manifest.json").exists()
                          else str(Path(tempfile.mkdtemp(prefix="rag-load-")) / "index"))
    index, status = open_or_build(path)
    demo = build_app(index, status=status, upload_dir=Path(tempfile.mkdtemp(prefix="rag-load-up-")))
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_MAX)
    port = free_port()
    demo.launch(prevent_thread_lock=True, **launch_options("127.0.0.1", port, None))
    return demo, index, f"http://127.0.0.1:{port}/"


def message_text(m) -> str:
    if isinstance(m, dict):
        c = m.get("content")
    else:
        c = getattr(m, "content", m)
    if isinstance(c, list):
        c = " ".join(x.get("text", "") if isinstance(x, dict) else str(x) for x in c)
    return str(c or "")


def run(url: str, qs: list[str], clients: int, retrieval_only: bool, request_timeout: float, total_timeout: float,
        index=None, k: int = 5, log=print, expected: dict | None = None) -> dict:
    """Send `qs` from `clients` sessions. `expected`: question -> a piece of HTML the sources panel of that question
    must contain (computed here from `index` in retrieval-only mode: the chunk id of its top passage, which each card carries as data-chunk);
    a panel without it counts as cross-talk."""
    from gradio_client import Client
    from ui import render

    expected = dict(expected or {})
    if index is not None and retrieval_only and not expected:
        expected = {q: f'data-chunk="{render.esc(index.search(q, k=k)[0].chunk_id)}"' for q in set(qs)}
    shares = [qs[i::clients] for i in range(clients)]
    results: list[dict] = []
    lock = threading.Lock()
    deadline = time.monotonic() + total_timeout

    def client_loop(cid: int, mine: list[str]) -> None:
        try:
            client = Client(url, verbose=False)
        except Exception as e:  # the whole share fails
            with lock:
                results.extend({"client": cid, "question": q, "ok": False, "error": f"connect: {e!r}",
                                "latency_s": None} for q in mine)
            return
        for q in mine:
            rec = {"client": cid, "question": q, "ok": False, "error": None, "latency_s": None}
            if time.monotonic() > deadline:
                rec["error"] = "not sent: total time budget used up"
                with lock:
                    results.append(rec)
                continue
            t0 = time.perf_counter()
            try:
                # keyword arguments: the endpoint's parameters are named (message, chat, speaker, publisher,
                # kind, date_from, date_to, retrieval_only); session state (history) is not one of them, and
                # a positional list one slot too long silently dropped the retrieval-only switch before.
                job = client.submit(message=q, chat=[], speaker="any", publisher="any", kind="any", date_from="",
                                    date_to="", retrieval_only=retrieval_only, api_name="/ask")
                out = job.result(timeout=request_timeout)
                out = list(out) if isinstance(out, (list, tuple)) else [out]
                chat = out[0]   # the chat; the sources panel is the HTML output (history is session state)
                sources = next((x for x in out[1:] if isinstance(x, str) and 'class="sources' in x), None)
                rec["latency_s"] = round(time.perf_counter() - t0, 3)
                user = [message_text(m) for m in chat if (m.get("role") if isinstance(m, dict) else None) == "user"]
                reply = message_text(chat[-1]) if chat else ""
                if user != [render.chat_text(q)]:
                    rec["error"] = f"cross-talk: the chat holds {user!r}, not this client's question"
                elif not reply or any(mark in reply for mark in ERROR_MARKS):
                    rec["error"] = f"error reply: {reply[:200]!r}"
                elif retrieval_only != (RETRIEVAL_ONLY_MARK in reply):
                    rec["error"] = f"wrong path: retrieval_only={retrieval_only} but the reply is {reply[:120]!r}"
                else:
                    # reported, not counted as an error: the app's panel may differ from a direct top-1 search
                    # (one hit per turn, answered-question folding); an unexplained difference needs a look
                    rec["sources_mismatch"] = q in expected and (sources is None or expected[q] not in sources)
                    rec["ok"] = True
                    rec["abstained"] = render.NOT_COVERED in reply
            except Exception as e:
                rec["latency_s"] = round(time.perf_counter() - t0, 3)
                rec["error"] = f"{type(e).__name__}: {e}"[:300]
            with lock:
                results.append(rec)
                log(f"  client {cid}: {rec['latency_s']} s {'ok' if rec['ok'] else 'ERROR ' + str(rec['error'])}"
                    f" | {q[:60]}")

    t_start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(client_loop, i, share) for i, share in enumerate(shares) if share]
        wait(futures, timeout=total_timeout + request_timeout)
    wall = time.perf_counter() - t_start
    lat = sorted(r["latency_s"] for r in results if r["ok"])
    q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) >= 2 else lat * 99

    return {"url": url, "mode": "retrieval-only" if retrieval_only else "answer", "clients": clients,
            "questions": len(qs), "completed": len(results), "ok": sum(r["ok"] for r in results),
            "errors": sum(not r["ok"] for r in results) + (len(qs) - len(results)),
            "abstained": sum(bool(r.get("abstained")) for r in results),
            "sources_mismatch": sum(bool(r.get("sources_mismatch")) for r in results),
            "p50_s": round(q[49], 2) if lat else None, "p95_s": round(q[94], 2) if lat else None,
            "max_s": round(lat[-1], 2) if lat else None, "wall_s": round(wall, 1),
            "throughput_q_per_min": round(60 * len(lat) / wall, 1) if wall else None,
            "error_samples": [r for r in results if not r["ok"]][:5]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", help="a running app on loopback (default: start one here)")
    p.add_argument("--index", help="index folder for the app this script starts (default: index/, else the sample)")
    p.add_argument("--questions", type=int, default=50)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--retrieval-only", action="store_true", help="use the retrieval-only switch (no language model)")
    p.add_argument("--request-timeout", type=float, default=900)
    p.add_argument("--timeout", type=float, default=3600, help="stop sending new questions after this many seconds")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    if not 1 <= a.questions <= 500 or not 1 <= a.clients <= 32:
        raise SystemExit("load_test: --questions 1..500 and --clients 1..32")
    demo = index = None
    if a.url:
        url = loopback_url(a.url)
    else:
        demo, index, url = start_app(a.index)
        if not a.retrieval_only:  # the first question should not pay for loading the models
            from ui.app import warm_up
            warm_up(index)
    try:
        print(f"load_test: {a.questions} questions from {a.clients} clients -> {url} "
              f"({'retrieval only' if a.retrieval_only else 'full answers'})", file=sys.stderr, flush=True)
        res = run(url, questions(a.questions), a.clients, a.retrieval_only, a.request_timeout, a.timeout, index=index,
                  log=lambda s: print(s, file=sys.stderr, flush=True))
    finally:
        if demo is not None:
            demo.close()
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        print(f"{res['mode']}: {res['questions']} questions, {res['clients']} clients: {res['ok']} ok, "
              f"{res['errors']} errors, {res['abstained']} not covered, {res['sources_mismatch']} sources panels "
              f"without the direct search's top passage; latency p50 {res['p50_s']} s, "
              f"p95 {res['p95_s']} s, max {res['max_s']} s; wall {res['wall_s']} s "
              f"({res['throughput_q_per_min']} questions/min)")
        for r in res["error_samples"]:
            print(f"  error: client {r['client']}: {r['error']} | {r['question']}")
    return 0 if res["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
