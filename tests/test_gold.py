"""The gold Q&A sets and their checker (eval/check_gold.py).

The checker reads the transcripts itself (no `rag` import), so these tests hold the gold
files to the transcripts and hold the checker to its own contract with bad hand-made items.
"""
import importlib.util
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKER = ROOT / "eval" / "check_gold.py"
SAMPLE_GOLD = ROOT / "eval" / "gold_sample.jsonl"
CC0_GOLD = ROOT / "eval" / "gold_cc0.jsonl"

_spec = importlib.util.spec_from_file_location("check_gold", CHECKER)
check_gold = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("check_gold", check_gold)  # dataclasses look the module up by name
_spec.loader.exec_module(check_gold)

OFFICIAL_004 = "SENIOR ADMINISTRATION OFFICIAL"
FILE_001 = "001_459d63326f653d88.txt"
BLINKEN_QUOTE = ("I think the most important thing that President Putin seems to discount or ignore "
                 "is that NATO is a defensive alliance.  It’s a transparent alliance.")


def _run(*args):
    return subprocess.run([sys.executable, str(CHECKER), *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def _items(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("name", ["gold_sample", "tuning_absent_sample", "heldout_sample", "heldout2_sample"])
def test_sample_gold_passes_checker(name):
    """Every gold set over the bundled sample quotes it verbatim, inside the turn of the speaker it names."""
    res = _run(ROOT / "eval" / f"{name}.jsonl")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "OK: all items pass" in res.stdout


def test_sample_gold_meets_coverage_requirements(sample_dir):
    items = _items(SAMPLE_GOLD)
    assert len(items) >= 60
    files = sorted(p.name for p in sample_dir.glob("*.txt"))  # the transcripts, not manifest.json
    per_file = Counter(it["file"] for it in items if it["answer"] != check_gold.ABSENT)
    assert set(per_file) == set(files)
    assert min(per_file.values()) >= 9, per_file
    assert sum(it["answer"] == check_gold.ABSENT for it in items) >= 10
    # evidence is mostly official/moderator speech, never a reporter's question
    assert not [it["id"] for it in items if it["speaker"] in ("QUESTION", "Q")]
    answerable = [it for it in items if it["answer"] != check_gold.ABSENT]
    paraphrased = sum(not check_gold.wording_overlap(it["question"], it["evidence"])[1] for it in answerable)
    assert paraphrased / len(answerable) >= 0.45


def test_cc0_gold_passes_checker(corpus_dir):
    if not CC0_GOLD.is_file():
        pytest.skip("eval/gold_cc0.jsonl not written yet")
    res = _run(CC0_GOLD, "--corpus", corpus_dir)
    assert res.returncode == 0, res.stdout + res.stderr


def _good(**over):
    item = {"id": "ok1", "question": "How did Blinken answer Putin's red lines?",
            "answer": "NATO is a defensive, transparent alliance.",
            "answer_keywords": ["defensive alliance", "transparent"],
            "evidence": BLINKEN_QUOTE, "file": FILE_001, "speaker": "SECRETARY BLINKEN"}
    item.update(over)
    return item


def test_checker_flags_bad_items(tmp_path, sample_dir, capsys):
    missing = _good(id="bad_missing")
    del missing["speaker"]
    bad = [
        _good(),
        _good(id="bad_speaker", speaker="QUESTION"),
        _good(id="bad_notfound", evidence=BLINKEN_QUOTE.replace("defensive", "offensive")),
        _good(id="bad_short", evidence="NATO is a defensive alliance.", answer_keywords=["defensive alliance", "nato"]),
        missing,
        _good(id="bad_keyword", answer_keywords=["defensive alliance", "warsaw pact"]),
        _good(id="bad_absent", answer="NOT_IN_CORPUS"),
        _good(id="bad_extra", note="x"),
        _good(id="ok1"),  # duplicate id
        # a reporter's question followed by the Secretary's answer: crosses a turn boundary
        _good(id="bad_span", evidence="What exactly does Russia need to do?  What exactly do the Russian-backed "
                                      "separatists need to do?  And what does Ukraine need to do for a solution "
                                      "to this crisis? Well, in the first instance, Alessandra,",
              answer_keywords=["russia", "ukraine"]),
    ]
    gold = tmp_path / "bad.jsonl"
    gold.write_text("\n".join(json.dumps(it, ensure_ascii=False) for it in bad) + "\n{not json\n", encoding="utf-8")
    rc = check_gold.main([str(gold), "--corpus", str(sample_dir)])
    out = capsys.readouterr().out
    assert rc == 1
    problems = [line.strip() for line in out.splitlines() if line.startswith("  ") and ":" in line]
    expect = {
        "bad_speaker": "speaker 'QUESTION' wrong",
        "bad_notfound": "evidence not found",
        "bad_short": "evidence has 5 words",
        "bad_missing": "missing field(s): speaker",
        "bad_keyword": "keyword 'warsaw pact' occurs in neither",
        "bad_absent": "absent item must have empty evidence",
        "bad_extra": "unexpected field(s): note",
        "ok1": "duplicate id",
        "bad_span": "evidence spans a turn boundary",
        "line 11": "invalid JSON",
    }
    for iid, msg in expect.items():
        assert any(p.startswith(f"{iid}:") and msg in p for p in problems), (iid, msg, out)
    # the one good item (apart from its duplicated id) raises nothing else
    assert {p for p in problems if p.startswith("ok1:")} == {"ok1: duplicate id"}


def test_checker_exit_code_via_cli(tmp_path, sample_dir):
    gold = tmp_path / "one_bad.jsonl"
    gold.write_text(json.dumps(_good(id="x1", speaker="MODERATOR")) + "\n", encoding="utf-8")
    res = _run(gold, "--corpus", sample_dir)
    assert res.returncode == 1
    assert "x1: speaker 'MODERATOR' wrong" in res.stdout


def test_turn_parser_on_hard_wrapped_markdown():
    raw = ("---\ntitle: \"X: y\"\n---\n \nVia Teleconference\n\n"
           "MS. JEAN-PIERRE:  Good afternoon.  We take \\[senior\nadministration official\\] questions\u00a0now.\n\n"
           "Q    Thanks.  What about\nNATO: Article 5 was mentioned mid-paragraph?\n\n"
           "     MODERATOR:  Last one.\n")
    turns = check_gold.parse_turns(raw)
    assert [t.label for t in turns] == ["", "MS. JEAN-PIERRE", "Q", "MODERATOR"]
    assert turns[1].text == "Good afternoon. We take [senior administration official] questions now."
    assert "NATO: Article 5" in turns[2].text  # a wrapped line is not a new turn


def test_sample_turns_have_expected_labels(sample_dir):
    labels = Counter()
    for path in sample_dir.glob("*.txt"):
        labels.update(t.label for t in check_gold.parse_turns(path.read_text(encoding="utf-8")))
    assert labels["SECRETARY BLINKEN"] == 18
    assert labels["Q"] == 13 and labels["MODERATOR"] == 15
    assert set(labels) == {"", "QUESTION", "Q", "OPERATOR", "MODERATOR", "SECRETARY BLINKEN",
                           "SENIOR ADMINISTRATION OFFICIAL", "SENIOR STATE DEPARTMENT OFFICIAL ONE",
                           "SENIOR STATE DEPARTMENT OFFICIAL TWO"}


def test_paraphrase_measure():
    ev = "Russia and Ukraine signed the so-called Minsk agreements many years ago.  They haven’t been implemented."
    assert check_gold.wording_overlap("What did Blinken say about the Minsk agreements?", ev)[1]
    assert not check_gold.wording_overlap("Which peace deal for the Donbas has stalled?", ev)[1]
