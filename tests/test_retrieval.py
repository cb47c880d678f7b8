"""Retrieval on the bundled sample: paraphrased questions, filters, one hit per turn, modes, CLI JSON."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.errors import RagError
from rag.lexicon import is_acknowledgement, says_nothing_alone
from rag.records import OFFICIAL, OPERATOR, QUESTIONER

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = json.loads((ROOT / "tests" / "retrieval_questions.json").read_text(encoding="utf-8"))
CONTRACT = ("rank", "score", "chunk_id", "doc_id", "path", "title", "date", "source_url", "publisher",
            "speaker", "role", "text", "question")


def run_cli(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-c", "import sys; from rag.cli import main; sys.exit(main())", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})


def test_questions_are_not_copied_from_the_transcripts():
    text = " ".join(p.read_text(encoding="utf-8") for p in (ROOT / "data" / "briefings").iterdir()).lower()
    assert len(QUESTIONS) >= 15
    for q in QUESTIONS:
        words = q["question"].lower().rstrip("?").split()
        # no run of 7 consecutive words of a question appears verbatim in the sample
        assert not any(" ".join(words[i:i + 7]) in text for i in range(len(words) - 6)), q["question"]


@pytest.mark.parametrize("q", QUESTIONS, ids=[q["question"][:50] for q in QUESTIONS])
def test_right_briefing_and_speaker_in_top5(sample_index, q):
    hits = sample_index.search(q["question"], k=5)
    assert len(hits) == 5
    found = [(Path(h.path).name, h.speaker) for h in hits]
    assert (q["file"], q["speaker"]) in found, found


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_one_hit_per_turn_and_ranks(sample_index, mode):
    for q in QUESTIONS[:8]:
        hits = sample_index.search(q["question"], k=8, mode=mode)
        assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
        assert len({(h.doc_id, h.turn) for h in hits}) == len(hits)
        assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))


def _matching(index, pred):
    return [c for c in index.chunks if pred(c)]


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_speaker_filters_return_only_matching_chunks_and_k_of_them(sample_index, mode):
    k = 7
    for speaker, pred in [
        ("official", lambda c: c.role == OFFICIAL),
        ("SECRETARY BLINKEN", lambda c: c.speaker == "SECRETARY BLINKEN"),
        ("blinken", lambda c: c.speaker == "SECRETARY BLINKEN"),
        ("questioner", lambda c: c.role == QUESTIONER),
        ("senior state department official two", lambda c: c.speaker == "SENIOR STATE DEPARTMENT OFFICIAL TWO"),
    ]:
        assert len(_matching(sample_index, pred)) >= k
        hits = sample_index.search("sanctions and humanitarian aid for Afghanistan", k=k, mode=mode, speaker=speaker)
        if mode == "bm25":  # BM25 only returns chunks sharing a word with the query
            assert 0 < len(hits) <= k
        else:
            assert len(hits) == k, speaker
        assert all(pred(h) for h in hits), (speaker, [(h.speaker, h.role) for h in hits])


def test_filter_with_few_matches_returns_all_of_them(sample_index):
    # The operator speaks a handful of times; none would make an unfiltered top 5 about Taiwan.
    operator = _matching(sample_index, lambda c: c.role == OPERATOR)
    assert 0 < len(operator) < 10
    assert not any(h.role == OPERATOR for h in sample_index.search("Taiwan submarine sale", k=5))
    hits = sample_index.search("Taiwan submarine sale", k=10, mode="dense", speaker="operator")
    # every operator turn comes back, one hit each, except the ones that only acknowledge ("Thank you.") or are
    # cut off ("next ques- —": rag.lexicon.says_nothing_alone)
    wanted = {(c.doc_id, c.turn) for c in operator
              if not is_acknowledgement(c.text) and not says_nothing_alone(c.text, bool(c.question))}
    assert len(wanted) < len(operator) and sorted((h.doc_id, h.turn) for h in hits) == sorted(wanted)


@pytest.mark.parametrize("mode", ["hybrid", "dense"])
def test_publisher_kind_and_date_filters(sample_index, mode):
    q = "North Korea missile tests and diplomacy"
    hits = sample_index.search(q, k=6, mode=mode, publisher="White House")
    assert len(hits) == 6 and all(h.publisher == "White House" for h in hits)
    hits = sample_index.search(q, k=6, mode=mode, publisher="State Department")
    assert len(hits) == 6 and all(h.publisher == "State Department" for h in hits)
    hits = sample_index.search(q, k=6, mode=mode, kind="background call")
    assert len(hits) == 6 and all(h.kind == "background call" for h in hits)
    dated = _matching(sample_index, lambda c: c.date and "2021-03-01" <= c.date <= "2021-03-31")
    assert len(dated) >= 6
    # a briefing without a date never passes a date filter (its date may be anything)
    from dataclasses import replace as _replace
    from rag.retrieval.filters import Columns, Filters
    chunks = [dated[0], _replace(dated[1], date=None)]
    assert Columns(chunks).allowed(Filters(date_from="2021-03-01", date_to="2021-03-31")).tolist() == [0]
    hits = sample_index.search(q, k=6, mode=mode, date_from="2021-03-01", date_to="2021-03-31")
    assert len(hits) == 6 and all(h.date and "2021-03-01" <= h.date <= "2021-03-31" for h in hits)
    assert sample_index.search(q, k=6, mode=mode, date_from="2030-01-01") == []
    hits = sample_index.search(q, k=6, mode=mode, date_to="2021-03-31", speaker="official")
    assert len(hits) == 6 and all(h.date <= "2021-03-31" and h.role == OFFICIAL for h in hits)


def test_answered_questions_come_back_as_answers(sample_index):
    # Worded like the reporter's question; the hit is the official's answer, with the question as context.
    hits = sample_index.search("Is China going to invade Taiwan?", k=5)
    top = hits[0]
    assert top.role == OFFICIAL and top.speaker == "SECRETARY BLINKEN"
    assert "invade Taiwan" in top.question and "invade Taiwan" not in top.text
    # ... and the questions themselves stay searchable.
    qs = sample_index.search("Is China going to invade Taiwan?", k=3, speaker="questioner")
    assert qs[0].role == QUESTIONER and "invade Taiwan" in qs[0].text


def test_bad_arguments_are_clear_errors(sample_index):
    with pytest.raises(RagError, match="mode"):
        sample_index.search("x", mode="fuzzy")
    with pytest.raises(RagError, match="YYYY-MM-DD"):
        sample_index.search("x", date_from="last tuesday")
    with pytest.raises(RagError, match="k must"):
        sample_index.search("x", k=0)
    assert sample_index.search("   ") == []


def test_cli_search_json_in_a_new_process_matches_in_process(sample_index):
    q = "What did officials say about Russia's cyber attacks on infrastructure?"
    for extra, kwargs in [([], {}), (["--speaker", "official", "--mode", "dense", "-k", "4"],
                                     {"speaker": "official", "mode": "dense", "k": 4})]:
        r = run_cli("search", q, "--index", str(sample_index.path), "--json", *extra)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        here = sample_index.search(q, **kwargs)
        assert [h["chunk_id"] for h in out] == [h.chunk_id for h in here]
        assert [h["score"] for h in out] == pytest.approx([h.score for h in here], abs=1e-5)
        for h in out:
            assert set(CONTRACT) <= set(h)
            assert list(h)[:len(CONTRACT)] == list(CONTRACT)
            assert Path(h["path"]).is_file()


def test_cli_search_without_index_suggests_ingest(tmp_path):
    r = run_cli("search", "anything", "--index", str(tmp_path / "nowhere"))
    assert r.returncode == 2
    assert "rag ingest" in r.stderr and "Traceback" not in r.stderr


def test_never_the_same_chunk_twice_even_when_few_turns_match(sample_index):
    # Few allowed turns: every one of them comes back, once (one hit per speaker turn, never a chunk twice).
    for mode in ("hybrid", "dense", "bm25"):
        hits = sample_index.search("Is China going to invade Taiwan?", k=40, mode=mode, speaker="blinken")
        ids = [h.chunk_id for h in hits]
        assert len(ids) == len(set(ids)) and all(h.speaker == "SECRETARY BLINKEN" for h in hits)
    turns = {(c.doc_id, c.turn) for c in sample_index.chunks
             if c.speaker == "SECRETARY BLINKEN" and not is_acknowledgement(c.text)}
    hits = sample_index.search("Taiwan", k=len(turns) + 5, mode="dense", speaker="blinken")
    assert sorted((h.doc_id, h.turn) for h in hits) == sorted(turns)


@pytest.fixture(scope="module")
def presidents_index(corpus_dir, tmp_path_factory):
    """Three CC0 transcripts whose words are labelled "THE PRESIDENT:" (Biden 2023, Trump 2025) or "THE VICE
    PRESIDENT:" (Harris 2022)."""
    from rag import Index
    files = ["speeches-remarks/2023-05/2023-05-08-remarks-by-president-biden-on-airline-accountability.md",
             "remarks/2025-03/2025-03-09-press-gaggle-by-president-trump.md",
             "speeches-remarks/2022-05/2022-05-18-remarks-by-vice-president-harris-at-united-states-coast-guard-"
             "academys-141st-commencement-address.md"]
    paths = [corpus_dir / f for f in files]
    if not all(p.exists() for p in paths):
        pytest.skip("the CC0 transcripts of this test are not in the corpus")
    return Index.build(paths, path=tmp_path_factory.mktemp("presidents") / "index", progress=False)


@pytest.mark.parametrize("name,label,since,until", [
    ("Biden", "THE PRESIDENT", "2021-01-20", "2025-01-20"),
    ("Trump", "THE PRESIDENT", "2025-01-20", "9999"),
    ("Harris", "THE VICE PRESIDENT", "2021-01-20", "2025-01-20"),
])
def test_a_speaker_filter_by_name_takes_the_office_label_in_that_term(presidents_index, name, label, since, until):
    """`--speaker Biden` finds the words the transcripts label "THE PRESIDENT" in Biden's term, and never in
    another president's; each hit keeps the label exactly as printed."""
    hits = presidents_index.search("the American people", k=10, speaker=name)
    assert hits, name
    assert all(h.speaker == label and since <= h.date < until for h in hits), [(h.speaker, h.date) for h in hits]


@pytest.mark.parametrize("question,expected", [
    ("Would American troops fight to defend Taiwan, according to the Secretary?", ["blinken"]),
    ("What did the Secretary of Defense tell allies about Taiwan?", []),
    ("What did the press secretary say about NATO?", []),   # no press secretary speaks in the sample
])
def test_an_office_the_question_names_stands_for_its_holders_who_speak(sample_index, question, expected):
    """"The Secretary" is Secretary Blinken in the State Department sample: hybrid search prefers his words as it
    would for "Blinken"; an office nobody in the index holds names no one."""
    from rag.retrieval.speakers import named_speakers
    assert named_speakers(question, sample_index._view) == expected
