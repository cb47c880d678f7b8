"""The answer checker on the hand-written claim battery (eval/checker_battery.jsonl: 486 claims citing real passages
of the sample and the CC0 corpus, half supported, half wrong in one of six ways). The issue's targets (balanced
accuracy >= 0.90, false accepts <= 3% for every kind) are not met; these tests hold the checker to what it does
today (eval/RESULTS.md), so a change that lets more wrong claims through, or rejects more right ones, fails here,
and name one claim for each rule of the checker, so that the rule that breaks is the test that fails.
`python eval/checker_battery.py` prints the table."""
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "eval"))
import checker_battery  # noqa: E402

# measured 2026-12-02 on all 486 claims with settings.answer.cover_min 0.9 (0.6 before: negation 0.067, number
# 0.050, entity 0.106, right claims 0.453 accepted): the most each kind of wrong claim may be accepted (before the
# second round of 2026-12-01: negation 0.111, number 0.100, entity 0.085, speaker 0.029, question 0.047)
FALSE_ACCEPT_MAX = {"negation": 0.05, "number": 0.02, "date": 0.0, "entity": 0.05, "speaker": 0.0, "question": 0.0}
SUPPORTED_ACCEPT_MIN = 0.31   # measured 0.318 (0.265 before a verbatim claim was judged by its sentence): near-verbatim
#                              claims only; a paraphrase rarely has 0.9 of its words


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


@pytest.mark.parametrize("name", ["checker_battery2.jsonl", "checker_battery3.jsonl", "checker_battery4.jsonl",
                                  "checker_battery5.jsonl", "checker_battery6.jsonl"])
def test_fresh_batteries_are_valid(corpus_dir, name):
    """The later held-out batteries: verbatim passages, their own ids and split, no file of an earlier battery."""
    out = subprocess.run([sys.executable, str(ROOT / "eval" / "check_battery.py"), str(ROOT / "eval" / name),
                          "--fresh", "--cc0-dir", str(corpus_dir)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and "0 problem" in out.stdout, out.stdout[-2000:]


@pytest.mark.parametrize("path", [checker_battery.BATTERY2, checker_battery.BATTERY4], ids=["battery2", "battery4"])
def test_no_words_are_credited_to_another_speaker(path):
    """Words credited to another person are refused on the later batteries too (battery 4 let 3 of 22 through
    before: "Dr. Cameron said" for DR. LANDER's words, and a passage's report of the President's speech backing
    other words of the official), while "Biden said" for THE PRESIDENT's words of his term is kept."""
    from rag.encoders import Embedder
    items = [i for i in checker_battery.load(path) if i["kind"] == "speaker"]
    assert len(items) >= 10 and not any(checker_battery.verdicts(items, Embedder().encode))


def test_battery_is_valid(corpus_dir):
    """Every claim cites a verbatim passage of the named speaker (eval/check_battery.py, independent of rag)."""
    out = subprocess.run([sys.executable, str(ROOT / "eval" / "check_battery.py"), "--cc0-dir", str(corpus_dir)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and "0 problem" in out.stdout, out.stdout[-2000:]


# one claim per rule of the checker (rag/answer/verify.py), from the batteries: (id, accepted?, why)
RULES = [
    ("cb182", True, "'U.S.' for the official's 'we' (rag.answer.aliases)"),
    ("cb260", True, "'U.S.-Egyptian': each part of a hyphenated name"),
    ("cb468", True, "'Five of the seven U.S. treaty alliances' for 'Five of our seven'"),
    ("cb035", False, "'On July 29, 2021, ...' for a briefing of July 22"),
    ("cb026", False, "'a three-day meeting' for 'about a daylong meeting': spelled numbers and units of time"),
    ("cb300", False, "'three bilateral engagements' for 'two bilateral engagements'"),
    ("cb408", False, "'is imminent': only the reporter's question says it"),
    ("cb083", False, "'demilitarizing' for 'militarizing': a negating prefix"),
    ("cc041", False, "'less sophisticated' for 'much more sophisticated': a word and its opposite"),
    ("cb213", False, "'was timed to the anniversary' for 'it wasn't timed to the anniversary'"),
    ("ce391", True, "'Biden said' for words labelled THE PRESIDENT on a date of his term (rag.offices)"),
    ("ce082", False, "'Dr. Beth Cameron said' for DR. LANDER's words: a form of address names nobody"),
    ("ce234", False, "'President Biden said' for an official's words, where the passage reports Biden saying another "
                     "thing"),
    ("ce042", False, "'shrink' for 'expanding': a word and its opposite, in any inflected form"),
    ("ce203", False, "'non-union labor' for 'union labor'"),
    ("ce421", False, "'two hundred and four' for 'a hundred and four': the value of a spelled number"),
]


@pytest.mark.parametrize("cid,ok,why", RULES, ids=[r[0] for r in RULES])
def test_each_rule_on_a_real_claim(cid, ok, why):
    from rag.encoders import Embedder
    items = {i["id"]: i for path in (checker_battery.BATTERY, checker_battery.BATTERY2, checker_battery.BATTERY4)
             for i in checker_battery.load(path)}
    assert checker_battery.accepted(items[cid], Embedder().encode) is ok, why
