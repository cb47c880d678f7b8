"""Performance benchmark: the same as `rag bench` (see rag/evaluation/bench.py for what it prints).

    .venv/bin/python eval/bench.py [--corpus DIR] [--sample 2000] [--skip-ingest] [--synthetic 1000000] ...
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.evaluation.bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
