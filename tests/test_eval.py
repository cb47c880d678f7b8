"""`rag eval` on the real sample index: per-item output fields, deterministic numbers, clear errors."""
import json
from pathlib import Path

import pytest

from rag.evaluation import evaluate as E
from rag.cli import main

ROOT = Path(__file__).resolve().parent.parent
GOLD_SAMPLE = ROOT / "eval" / "gold_sample.jsonl"
HIT_FIELDS = {"rank", "score", "chunk_id", "doc_id", "path", "title", "date", "source_url", "publisher",
              "speaker", "role", "text", "question"}
CITATION_FIELDS = {"n", "chunk_id", "path", "title", "date", "source_url", "speaker", "quote"}

# Used when eval/gold_sample.jsonl is missing: 3 answerable items (evidence copied from the sample) and 1 absent.
TINY_GOLD = [
    {"id": "t1", "question": "Which Central Asian countries were in the C5+1 meeting?",
     "answer": "Kazakhstan, the Kyrgyz Republic, Tajikistan, Turkmenistan and Uzbekistan.",
     "answer_keywords": ["kazakhstan", "uzbekistan"],
     "evidence": "This morning he participated in a meeting of the C5+1, which includes the five Central Asian "
                 "partners – Kazakhstan, the Kyrgyz Republic, Tajikistan, Turkmenistan, and Uzbekistan.",
     "file": "000_a8897b1a760cb632.txt", "speaker": "SENIOR STATE DEPARTMENT OFFICIAL TWO"},
    {"id": "t2", "question": "How many more Pfizer doses will the US donate?",
     "answer": "An additional 500 million doses of Pfizer vaccine.", "answer_keywords": ["500 million", "pfizer"],
     "evidence": "Earlier today at the summit, the President announced that the United States will purchase and "
                 "donate an additional 500 million doses of Pfizer vaccine to give to lower and lower middle income countries.",
     "file": "000_a8897b1a760cb632.txt", "speaker": "SENIOR STATE DEPARTMENT OFFICIAL TWO"},
    {"id": "t3", "question": "What did officials say about the price of bananas in Ecuador?", "answer": "NOT_IN_CORPUS",
     "answer_keywords": [], "evidence": "", "file": "", "speaker": ""},
]


@pytest.fixture(scope="module")
def eval_index(request, tmp_path_factory, sample_dir):
    """The session's sample index when tests/conftest.py provides one, else one built here."""
    try:
        idx = request.getfixturevalue("sample_index")
    except pytest.FixtureLookupError:
        from rag import Index
        idx = Index.build([str(sample_dir)], path=str(tmp_path_factory.mktemp("eval") / "index"))
    return idx


@pytest.fixture(scope="module")
def gold_file(tmp_path_factory) -> Path:
    if GOLD_SAMPLE.is_file():
        return GOLD_SAMPLE
    p = tmp_path_factory.mktemp("gold") / "tiny.jsonl"
    p.write_text("".join(json.dumps(x) + "\n" for x in TINY_GOLD), encoding="utf-8")
    return p


def _index_dir(idx) -> str:
    return str(getattr(idx, "path", idx))


def test_eval_cli_writes_per_item_records_and_identical_numbers_twice(eval_index, gold_file, tmp_path, capsys):
    out = tmp_path / "run.json"
    code = main(["eval", str(gold_file), "--no-answers", "--index", _index_dir(eval_index), "--out", str(out), "--json"])
    assert code == 0
    gold = E.load_gold(gold_file)
    records = json.loads(out.read_text())
    assert [r["id"] for r in records] == [g["id"] for g in gold]
    for r in records:
        assert {"id", "question", "hits", "answer", "abstained", "citations", "timings"} <= set(r)
        assert len(r["hits"]) == E.K_RETRIEVE
        assert HIT_FIELDS <= set(r["hits"][0])
        assert [h["rank"] for h in r["hits"]] == list(range(1, E.K_RETRIEVE + 1))
        assert set(r["timings"]["search_s"]) == set(E.MODES)
    summary = json.loads(capsys.readouterr().out)  # --json prints the summary
    assert summary == json.loads((tmp_path / "run.summary.json").read_text())
    assert "| hybrid |" in (tmp_path / "run.summary.md").read_text()
    assert set(summary["retrieval"]) == {"bm25", "dense", "hybrid"}
    n_answerable = sum(1 for g in gold if g["answer"] != "NOT_IN_CORPUS")
    for mode, s in summary["retrieval"].items():
        assert s["n"] == n_answerable
        assert 0.0 <= s["hit@1"] <= s["hit@5"] <= s["hit@10"] <= 1.0
        assert s["hit@1"] <= s["mrr"] <= s["hit@10"]
        assert s["hit@5"] <= s["doc_hit@5"]  # a passage hit is also a document hit
    # the sample gold is written to be findable: hybrid retrieval finds most evidence in the top 10
    assert summary["retrieval"]["hybrid"]["hit@10"] >= 0.5

    # second run, in process, over the first 30 items (to keep the test short on 2 shared cores):
    # identical per-item results and identical numbers (latency aside)
    again = E.evaluate(eval_index, gold[:30], mode="hybrid", answers=False, progress=False)
    assert E.summarize(again, answers=False) == E.summarize(records[:30], answers=False)
    strip = lambda rs: [{k: v for k, v in r.items() if k != "timings"} for r in rs]  # noqa: E731
    assert strip(json.loads(json.dumps(again))) == strip(records[:30])


def test_relevant_hit_is_the_passage_holding_the_evidence(eval_index):
    item = TINY_GOLD[1]
    hits = eval_index.search(item["question"], k=10, mode="hybrid")
    doc_ids = E.gold_doc_ids(eval_index, item["file"])
    assert doc_ids, "the gold file is in the index"
    rel = E.relevance(hits, item, doc_ids)
    assert any(rel)
    first = hits[rel.index(True)]
    assert "500 million doses of Pfizer" in " ".join(first.text.split())
    assert first.speaker == item["speaker"]
    # the same passage is not relevant to evidence from another briefing
    other = dict(item, file="001_459d63326f653d88.txt")
    assert not any(E.relevance(hits, other, E.gold_doc_ids(eval_index, other["file"])))
    assert E.relevant_turns(eval_index.chunks, item, doc_ids) == 1


def test_bad_gold_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(TINY_GOLD[0]) + "\n" + json.dumps({"id": "x", "question": "q"}) + "\n", encoding="utf-8")
    assert main(["eval", str(bad), "--no-answers", "--index", str(tmp_path / "idx")]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2" in err and "missing field" in err and "answer_keywords" in err
    assert not (tmp_path / "idx").exists()  # nothing built for a gold set that cannot be read


def test_corpus_subset_is_deterministic_and_holds_the_gold_files(corpus_dir):
    some = sorted(p for p in (corpus_dir / "press-briefings").rglob("*.md"))[:2]
    gold = [dict(TINY_GOLD[0], id=f"g{i}", file=p.relative_to(corpus_dir).as_posix()) for i, p in enumerate(some)]
    a = E.select_files(gold, corpus_dir, 25)
    assert a == E.select_files(gold, corpus_dir, 25) == sorted(a)
    assert len(a) == 27 and set(some) <= set(a)
    assert E.select_files(gold, corpus_dir, 0) == some
    assert E.parse_subset("gold+25") == 25 and E.parse_subset("all") is None
    with pytest.raises(Exception, match="gold\\+N"):
        E.parse_subset("25")


def test_summary_aggregates_hand_made_records():
    def rec(absent, abstained, kw=None, f1=None, faith=None, cites=(), hit1=0.0):
        r = {"absent": absent, "abstained": abstained, "timings": {"search_s": {}, "total_s": 1.0},
             "retrieval": {} if absent else {m: {"hit@1": hit1, "hit@5": 1.0, "hit@10": 1.0, "mrr": 1.0 if hit1 else 0.5,
                                                   "doc_hit@5": 1.0, "ndcg@10": 1.0, "speaker_ok": True} for m in E.MODES},
             "scores": {"abstained": abstained, "faithfulness": faith,
                        "citations": [{"relevant": rel, "attribution_ok": ok, "resolved": True} for rel, ok in cites]}}
        if not absent:
            r["scores"].update(keyword_recall=kw, token_f1=f1)
        return r
    records = [rec(False, False, 1.0, 0.5, 1.0, [(True, True), (False, True)], hit1=1.0),
               rec(False, True, 0.0, 0.0),                 # answerable but abstained: a false abstention
               rec(True, True), rec(True, False, faith=0.0, cites=[(False, False)])]
    s = E.summarize(records, answers=True)
    assert s["n_answerable"] == 2 and s["n_absent"] == 2
    assert s["retrieval"]["hybrid"]["hit@1"] == 0.5 and s["retrieval"]["hybrid"]["mrr"] == 0.75
    a = s["answers"]
    assert (a["abstention_precision"], a["abstention_recall"]) == (0.5, 0.5)
    assert a["keyword_recall"] == 0.5 and a["keyword_recall_answered"] == 1.0 and a["answered_n"] == 1
    assert a["citation_precision"] == 0.5 and a["citations_on_answerable"] == 2   # absent items' citations excluded
    assert a["citation_speaker_acc"] == 0.6667  # rounded to 4 places and a["citations_total"] == 3
    assert a["faithfulness"] == 0.5 and a["faithfulness_n"] == 2
    assert E.latency(records)["answer_total_s"] == {"p50": 1.0, "p95": 1.0}
