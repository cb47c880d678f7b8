"""The child process of `rag bench` (a fresh process, so memory and model load are measured alone).
Takes `load` or `answers INDEX_DIR QUESTIONS_JSON`; gives one JSON (or number) line on stdout.

The language model is the one the environment's settings choose (RAG_GGUF_RUNTIME, RAG_LLM_URL ...), so
the parent runs this once per model backend. Tokens are counted with the bundled SmolLM2 tokenizer
whatever wrote them (the same tokenizer for the three paths of the bundled model).

    python -m rag.evaluation.bench_worker load
    python -m rag.evaluation.bench_worker answers INDEX_DIR '["question", ...]'
"""
from __future__ import annotations

import json
import sys
import time

from rag.answer import Done, Text
from rag.indexing.index import Index
from rag.llm import get_model
from rag.llm.transformers_backend import load_model
from rag.resources import default_llm_path
from rag.settings import offline_environment


def time_load() -> float:
    """Seconds to load the bundled language model (converting the GGUF first when the cache is empty)."""
    t = time.perf_counter()
    load_model()
    return time.perf_counter() - t


def _memory_mb() -> tuple[float, float]:
    hwm = rss = 0.0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
    return rss, hwm


def count_tokens(text: str) -> int:
    """Word pieces of `text` in the bundled SmolLM2 tokenizer (read from the GGUF file; no weights loaded)."""
    from transformers import AutoTokenizer
    gguf = default_llm_path()
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    return len(tok(text, add_special_tokens=False)["input_ids"])


def answers(index_dir: str, questions: list[str]) -> dict:
    """Answer timings over an index, generation speed, and serving memory with both models loaded."""
    idx = Index.open(index_dir)
    t = time.perf_counter()
    llm = get_model(None)
    load = time.perf_counter() - t
    idx.search(questions[0])
    rows = []
    for q in questions:
        t = time.perf_counter()
        first, ans = None, None
        for ev in idx.ask_stream(q):
            if isinstance(ev, Text) and first is None:
                first = time.perf_counter() - t
            if isinstance(ev, Done):
                ans = ev.answer
        rows.append({"first_token_s": first, "model_first_token_s": ans.timings.get("first_token_s"),
                     "model_ttft_s": ans.timings.get("model_first_token_s"),
                     "total_s": time.perf_counter() - t, "abstained": bool(ans.abstained), "timings": ans.timings,
                     "model": ans.model.to_dict() if ans.model else None})
    msgs = [{"role": "user", "content": "Summarise in three sentences what a press briefing is."}]
    t = time.perf_counter()
    out = llm.generate(msgs, max_new_tokens=64)
    gen = time.perf_counter() - t
    rss, hwm = _memory_mb()
    return {"load_s": load, "rows": rows, "tokens": count_tokens(out), "gen_s": gen, "rss_mb": rss,
            "hwm_mb": hwm, "chunks": len(idx), "backend": llm.backend, "model": llm.name}


def main(argv: list[str]) -> int:
    offline_environment()
    if argv[:1] == ["load"]:
        print(time_load())
    elif argv[:1] == ["answers"] and len(argv) == 3:
        print(json.dumps(answers(argv[1], json.loads(argv[2]))))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
