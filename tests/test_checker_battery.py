"""The answer checker on the hand-written claim battery (eval/checker_battery.jsonl: 486 claims citing real passages
of the sample and the CC0 corpus, half supported, half wrong in one of six ways). The issue's targets (balanced
accuracy >= 0.90, false accepts <= 3% for every kind) are not met; these tests hold the checker to what it does
today (eval/RESULTS.md), so a change that lets more wrong claims through, or rejects more right ones, fails here.
`python eval/checker_battery.py` prints the table."""
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "eval"))
import checker_battery  # noqa: E402

# measured 2026-12-01 on all 486 claims (torch embedder): the most each kind of wrong claim may be accepted
FALSE_ACCEPT_MAX = {"negation": 0.12, "number": 0.11, "date": 0.0, "entity": 0.09, "speaker": 0.03, "question": 0.05}
SUPPORTED_ACCEPT_MIN = 0.32   # measured 0.332: the checker is strict (half of near-verbatim claims are refused)


@pytest.fixture(scope="module")
def verdicts():
    from rag.encoders import Embedder
    items = checker_battery.load()
    by_kind = defaultdict(list)
    for item, ok in zip(items, checker_battery.verdicts(items, Embedder().encode)):
        by_kind[item["kind"]].append(ok)
    return by_kind


@pytest.mark.parametrize("kind", sorted(FALSE_ACCEPT_MAX))
def test_wrong_claims_are_rejected(verdicts, kind):
    rate = sum(verdicts[kind]) / len(verdicts[kind])
    assert len(verdicts[kind]) >= 25 and rate <= FALSE_ACCEPT_MAX[kind], (kind, rate)


def test_supported_claims_are_accepted_as_often_as_measured(verdicts):
    supported = [ok for k in checker_battery.SUPPORTED for ok in verdicts[k]]
    assert len(supported) >= 150 and sum(supported) / len(supported) >= SUPPORTED_ACCEPT_MIN


def test_battery_is_valid(corpus_dir):
    """Every claim cites a verbatim passage of the named speaker (eval/check_battery.py, independent of rag)."""
    out = subprocess.run([sys.executable, str(ROOT / "eval" / "check_battery.py"), "--cc0-dir", str(corpus_dir)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and "0 problem" in out.stdout, out.stdout[-2000:]
