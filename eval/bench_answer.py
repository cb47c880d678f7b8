"""Answer benchmark: model load time (cold = GGUF conversion, cached), time to first token and total
answer time on 10 questions over the bundled sample. Prints figures; asserts nothing.

    .venv/bin/python eval/bench_answer.py [--index DIR] [--model PATH] [--calibrate] [--skip-cold]

--calibrate also prints the abstention gate's figures (score, evidence, names the archive never mentions)
for questions the sample answers and topics it never mentions: the basis of the answer gate's thresholds (settings.answer).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "What did officials say about North Korea's recent missile tests?",
    "How many vaccine doses did the President say the United States would donate?",
    "Which countries hosted the ministerial on Libya?",
    "How long did the meeting in Rome with the Chinese counterpart last?",
    "What did Blinken say about the Minsk agreements?",
    "What did the Secretary say about the Winter Olympics in China?",
    "How did the official describe the tone of the meeting with President Putin?",
    "What is the One China policy based on?",
    "Did the presidents agree to consult on cyber issues?",
    "What did officials say about the meeting with Josep Borrell?",
]
ABSENT = [
    "What did officials say about climate finance in Brazil?",
    "What did the White House say about the tax bill?",
    "What was said about hurricane relief in Florida?",
    "What did officials say about student loan forgiveness?",
    "What did officials say about the Summer Olympics in Paris?",
    "Did anyone mention the price of eggs?",
    "What did officials say about wildfires in California?",
    "What is the administration's position on the minimum wage?",
    "What did they say about the opioid epidemic?",
    "What did officials say about artificial intelligence regulation?",
]

_LOAD = "import time,sys; t=time.perf_counter(); from rag.llm.transformers_backend import load_model; m=load_model({path!r}); " \
        "print(time.perf_counter()-t, m.converted)"


def timed_load(model, cache: str) -> tuple[float, bool]:
    env = dict(os.environ, BRIEFING_RAG_CACHE=cache)
    out = subprocess.run([sys.executable, "-c", _LOAD.format(path=model)], capture_output=True, text=True, env=env,
                         cwd=ROOT)
    if out.returncode:
        raise SystemExit(out.stderr[-2000:])
    secs, converted = out.stdout.split()[-2:]
    return float(secs), converted == "True"


def calibrate(index) -> None:
    from rag.answer.evidence import gate
    from rag.answer.pipeline import gather
    print("\nabstention gate (evidence score, less settings.answer.unknown_name_penalty for a name the archive never "
          "mentions, >= relevance_min; on the gold sets: eval/gate_calibration.py):")
    for label, qs in (("covered", QUESTIONS), ("absent", ABSENT)):
        for q in qs:
            _, ps, _, evidence = gather(index, q, 5)
            g = gate(q, ps, evidence, index.mentions)
            print(f"  {label:8s} {'answer ' if g.ok else 'abstain'} score={g.score:.3f} evidence={g.relevance:.3f} "
                  f"unknown={g.unknown}  {q}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", help="index folder (default: the bundled sample, indexed into a temporary folder)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--skip-cold", action="store_true", help="skip the cold (conversion) load")
    args = ap.parse_args()

    from rag.llm import get_model, resolve_model_path
    from rag.resources import cache_dir
    model = str(resolve_model_path(args.model))
    print(f"model: {model}")
    if model.endswith(".gguf") and not args.skip_cold:
        with tempfile.TemporaryDirectory() as tmp:
            cold, converted = timed_load(model, tmp)
            print(f"load, cold (GGUF -> converted cache, fresh cache dir): {cold:.1f} s (converted={converted})")
            warm, converted = timed_load(model, tmp)
            print(f"load, cached (converted weights):                     {warm:.1f} s (converted={converted})")
    else:
        warm, _ = timed_load(model, str(cache_dir()))
        print(f"load, in a fresh process: {warm:.1f} s")

    from rag import Index
    tmpdir = None
    if args.index:
        index = Index.open(args.index)
    else:
        tmpdir = tempfile.TemporaryDirectory()
        t = time.perf_counter()
        index = Index.build([ROOT / "data" / "briefings"], path=Path(tmpdir.name) / "index", progress=False)
        print(f"indexed the bundled sample in {time.perf_counter() - t:.1f} s")
    llm = get_model(args.model)
    index.search("warm up the embedder", k=1)

    rows = []
    print(f"\n{'first token':>11} {'first text':>10} {'total':>7} {'lead':>4} {'cites':>5}  question")
    for q in QUESTIONS:
        a = index.ask(q, model=llm)
        t = a.timings
        lead = 0 if a.answer.startswith("What was said") else 1
        rows.append(t)
        print(f"{t.get('first_token_s', float('nan')):>10.2f}s {t.get('first_text_s', float('nan')):>9.2f}s "
              f"{t['total_s']:>6.2f}s {lead:>4} {len(a.citations):>5}  {q}{'  [ABSTAINED]' if a.abstained else ''}")
    for key in ("retrieve_s", "first_token_s", "first_text_s", "generate_s", "total_s"):
        vals = [r[key] for r in rows if key in r]
        if vals:
            print(f"{key:14s} median {statistics.median(vals):.2f} s, max {max(vals):.2f} s")
    if args.calibrate:
        calibrate(index)
    if tmpdir:
        tmpdir.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
