"""Metric functions on tiny hand-made cases whose answers are worked out by hand."""
import math

import pytest

from rag.evaluation import metrics as m

EVIDENCE = ("We are providing an additional 45 million dollars in humanitarian assistance "
            "to the people of Syria, including food, shelter and medical care.")  # 22 tokens -> 18 5-grams


# ------------------------------------------------------------------ normalisation / evidence
def test_tokens_fold_quotes_escapes_and_case():
    assert m.tokens("We’re at the U.N. \\[Senior Official\\]") == ["we", "re", "at", "the", "u", "n", "senior", "official"]
    assert m.tokens("") == [] and m.tokens(None) == []


def test_evidence_fully_contained_ignoring_whitespace_and_case():
    passage = "QUESTION text is not here. " + EVIDENCE.upper().replace(" ", "\n  ") + " And more words follow."
    assert m.evidence_containment(EVIDENCE, passage) == 1.0
    assert m.contains_evidence(EVIDENCE, passage)


def test_evidence_absent_or_empty():
    assert m.evidence_containment(EVIDENCE, "Nothing about that at all.") == 0.0
    assert m.evidence_containment(EVIDENCE, None) == 0.0
    assert m.evidence_containment("", "anything") == 0.0
    assert not m.contains_evidence("", "anything")


def test_evidence_spanning_two_chunks_only_the_larger_part_matches():
    toks = EVIDENCE.split()  # 22 words, 22 tokens
    first, second = " ".join(toks[:15]), " ".join(toks[15:])  # 15 + 7 words
    # 5-grams fully inside the first part: 15-4 = 11 of 18; inside the second: 7-4 = 3 of 18
    assert m.evidence_containment(EVIDENCE, first) == pytest.approx(11 / 18)
    assert m.evidence_containment(EVIDENCE, second) == pytest.approx(3 / 18)
    assert m.contains_evidence(EVIDENCE, first) and not m.contains_evidence(EVIDENCE, second)


def test_short_evidence_uses_shorter_ngrams():
    assert m.evidence_containment("Syria aid", "more Syria aid now") == 1.0
    assert m.evidence_containment("Syria aid", "aid Syria") == 0.0


def test_speaker_and_file_matching():
    assert m.same_speaker("Mr. Price:", "MR PRICE")
    assert not m.same_speaker("QUESTION", "MR. PRICE")
    assert not m.same_speaker(None, None)  # unknown speaker never counts as right
    assert m.file_matches("/work/main/data/briefings/001_x.txt", "001_x.txt")
    assert m.file_matches("press-briefings/2021-01/a.md", "./press-briefings/2021-01/a.md")
    assert m.file_matches("/c/wh/press-briefings/2021-01/a.md", "press-briefings/2021-01/a.md")
    assert not m.file_matches("/c/wh/press-briefings/2021-01/ba.md", "a.md")
    assert not m.file_matches(None, "a.md") and not m.file_matches("a.md", "")


# ------------------------------------------------------------------ ranking
def test_hit_at_k_and_reciprocal_rank():
    rel = [False, False, True, False, True]
    assert m.hit_at_k(rel, 1) == 0.0 and m.hit_at_k(rel, 2) == 0.0
    assert m.hit_at_k(rel, 3) == 1.0 and m.hit_at_k(rel, 10) == 1.0
    assert m.reciprocal_rank(rel) == pytest.approx(1 / 3)
    assert m.reciprocal_rank(rel, k=2) == 0.0
    assert m.first_relevant(rel) == 2 and m.first_relevant(rel, k=2) is None


def test_no_hits():
    assert m.hit_at_k([], 5) == 0.0
    assert m.reciprocal_rank([]) == 0.0
    assert m.ndcg_at_k([], 10) == 0.0
    assert m.ndcg_at_k([], 10, n_relevant=2) == 0.0
    assert m.first_relevant([]) is None


def test_ndcg_binary():
    assert m.ndcg_at_k([True], 10) == 1.0
    # one relevant at rank 2: (1/log2 3) / 1
    assert m.ndcg_at_k([False, True], 10) == pytest.approx(1 / math.log2(3))
    # two relevant known, one found at rank 1: 1 / (1 + 1/log2 3)
    assert m.ndcg_at_k([True, False], 10, n_relevant=2) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    # relevant item beyond k does not count
    assert m.ndcg_at_k([False, False, True], 2) == 0.0
    # both relevant on top: perfect
    assert m.ndcg_at_k([True, True, False], 10, n_relevant=2) == pytest.approx(1.0)


def test_ties_are_ordered_deterministically():
    hits = [{"id": "b", "s": 0.9, "rel": True}, {"id": "a", "s": 0.9000000001, "rel": False},
            {"id": "c", "s": 0.95, "rel": False}]
    for order in (hits, hits[::-1], [hits[1], hits[2], hits[0]]):
        ranked = m.order_ranked(order, score=lambda h: h["s"], key=lambda h: h["id"])
        assert [h["id"] for h in ranked] == ["c", "a", "b"]
        assert m.reciprocal_rank([h["rel"] for h in ranked]) == pytest.approx(1 / 3)


# ------------------------------------------------------------------ answers
def test_keyword_recall():
    ans = "The U.S. will give $45 million [1] in aid to Syria."
    assert m.keyword_recall(ans, ["45 million", "syria"]) == 1.0
    assert m.keyword_recall(ans, ["45 million", "jordan", "u.s.", "food"]) == 0.5
    assert m.keyword_recall(ans, ["million 45"]) == 0.0  # order matters inside a keyword
    assert m.keyword_recall("", ["syria"]) == 0.0
    assert m.keyword_recall(ans, []) == 0.0


def test_token_f1():
    assert m.token_f1("45 million dollars", "45 million dollars") == 1.0
    # pred 4 tokens (the dropped), ref 2, overlap 2: P=2/4, R=1 -> F1=2/3
    assert m.token_f1("the aid was 45 million", "45 million") == pytest.approx(2 / 3)
    assert m.token_f1("Aid [1] to Syria.", "aid to syria") == 1.0  # markers and case ignored
    assert m.token_f1("", "45 million") == 0.0
    assert m.token_f1("", "") == 1.0
    assert m.token_f1("no overlap", "45 million") == 0.0
    assert m.token_f1("aid aid aid", "aid") == pytest.approx(0.5)  # multiset: P=1/3, R=1


def test_split_sentences_and_cited_numbers():
    text = "Mr. Price said the U.S. will send aid [1]. It is $45 million. [2] He gave no date [1, 3]"
    sents = m.split_sentences(text)
    assert sents == ["Mr. Price said the U.S. will send aid [1].", "It is $45 million. [2]",
                     "He gave no date [1, 3]"]
    assert [m.cited_numbers(s) for s in sents] == [[1], [2], [1, 3]]
    assert m.cited_numbers("range [2-4]") == [2, 3, 4]
    assert m.split_sentences("") == [] and m.split_sentences("   ") == []
    # lines and bullets are separate claims; a heading is not a claim
    digest = "What was said in the briefings:\n- MR. PRICE, in \u201cBriefing\u201d: \u201cWe sent aid.\u201d [1]\n- MS. PSAKI: \u201cNo.\u201d [2]"
    assert m.split_sentences(digest) == ["MR. PRICE, in \u201cBriefing\u201d: \u201cWe sent aid.\u201d [1]",
                                         "MS. PSAKI: \u201cNo.\u201d [2]"]


def test_faithfulness():
    passages = {1: EVIDENCE, 2: "The Secretary met the Foreign Minister of Jordan on Tuesday."}
    supported = "The U.S. is providing 45 million dollars in humanitarian assistance to Syria [1]."
    wrong_cite = "The Secretary met the Foreign Minister of Jordan [1]."  # true, but [1] does not say it
    uncited = "The Secretary met the Foreign Minister of Jordan."
    assert m.faithfulness(supported, passages) == 1.0
    assert m.faithfulness(supported + " " + wrong_cite, passages) == 0.5
    assert m.faithfulness(supported + " " + uncited, passages) == 0.5  # nothing cited after it
    assert m.faithfulness(uncited + " " + supported, passages) == 0.5  # covered by [1], which does not say it
    # a multi-sentence quote cited once at its end: both sentences checked against [2]
    assert m.faithfulness("- MR. X: \u201cThe Secretary met the Foreign Minister. Of Jordan, on Tuesday.\u201d [2]", passages) == 1.0
    assert m.faithfulness(uncited + "\n" + supported, passages) == 0.5  # a marker never reaches back across lines
    # a digest line of two-sentence quotes: each sentence is checked against the passage its own quote cites
    line = ("- MR. X: \u201cThe Secretary met the Foreign Minister. Of Jordan, on Tuesday.\u201d [2] \u2026 \u201cThe U.S. is "
            "providing 45 million dollars. In humanitarian assistance to Syria.\u201d [1]")
    assert m.faithfulness(line, passages) == 1.0
    assert m.split_sentences(line)[2].startswith("\u2026 \u201cThe U.S.")
    assert m.faithfulness(line.replace("[2]", "[1]", 1), passages) == 0.5   # the Jordan quote does not say [1]
    assert m.faithfulness("Something [7].", passages) == 0.0  # unknown citation number
    assert m.faithfulness("", passages) is None
    # a custom support check (e.g. rag.answer.verify's) is used when given
    assert m.faithfulness(wrong_cite, passages, supported=lambda s, ps: True) == 1.0


def test_content_support_threshold():
    sent = "The secretary met the minister of Jordan on Tuesday"  # content: secretary met minister jordan tuesday
    assert m.content_support(sent, ["Secretary Jordan minister"])  # 3 of 5 = 0.6
    assert not m.content_support(sent, ["Secretary Jordan"])  # 2 of 5
    assert m.content_support(sent, ["Secretary", "met Jordan"])  # union of passages: 3 of 5
    assert m.content_support("It is.", [])  # no content words: nothing to support


# ------------------------------------------------------------------ citations
def test_citation_relevant():
    assert m.citation_relevant("/d/001_x.txt", "Intro. " + EVIDENCE, "001_x.txt", EVIDENCE)
    assert not m.citation_relevant("/d/002_y.txt", EVIDENCE, "001_x.txt", EVIDENCE)  # other briefing
    assert not m.citation_relevant("/d/001_x.txt", "unrelated words", "001_x.txt", EVIDENCE)


def test_quote_in_allows_ellipses_and_words_cut_at_the_edges():
    text = "We are providing an additional 45 million dollars in humanitarian assistance."
    assert m.quote_in("an additional 45 million", text)
    assert m.quote_in("e providing an addit", text)  # cut mid-word at both ends
    assert m.quote_in("We are providing ... humanitarian assistance", text)
    assert m.quote_in("We are providing … 45 million", text)
    assert not m.quote_in("We are providing 45 million", text)  # words left out without an ellipsis
    assert not m.quote_in("providing an additional 50 million", text)
    assert not m.quote_in("", text) and not m.quote_in("anything", "")


def test_citation_attribution():
    text = "We are providing an additional 45 million dollars in humanitarian assistance."
    ok = dict(passage_speaker="MR. PRICE", passage_text=text)
    assert m.citation_attribution_ok("MR. PRICE", "45 million dollars", **ok)
    assert m.citation_attribution_ok("Mr Price", "", **ok)  # empty quote: only the speaker is checked
    assert not m.citation_attribution_ok("QUESTION", "45 million dollars", **ok)  # wrong person
    assert not m.citation_attribution_ok(None, "45 million dollars", **ok)
    # the quote is the reporter's words, not found in the official's passage text
    assert not m.citation_attribution_ok("MR. PRICE", "will you send more aid to Syria", **ok)
    # matches the evidence: must also be the gold speaker
    assert m.citation_attribution_ok("MR. PRICE", "45 million", **ok, gold_speaker="MR. PRICE", matches_evidence=True)
    assert not m.citation_attribution_ok("MR. PRICE", "45 million", **ok, gold_speaker="MS. PSAKI", matches_evidence=True)
    assert m.citation_attribution_ok("MR. PRICE", "45 million", **ok, gold_speaker="MS. PSAKI", matches_evidence=False)
    assert not m.citation_attribution_ok("MR. PRICE", "45 million", passage_speaker="MR. PRICE", passage_text=None)


# ------------------------------------------------------------------ sets / latency
def test_precision_recall_mean_percentile():
    assert m.precision_recall(3, 4, 6) == (0.75, 0.5)
    assert m.precision_recall(0, 0, 5) == (None, 0.0)
    assert m.precision_recall(0, 0, 0) == (None, None)
    assert m.mean([1.0, None, 0.0]) == 0.5 and m.mean([]) is None
    vals = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert m.percentile(vals, 50) == 3.0
    assert m.percentile(vals, 95) == pytest.approx(4.8)  # numpy default: 1 + (5-1)*.95 -> 4.8
    assert m.percentile([2.0], 95) == 2.0 and m.percentile([], 50) is None
