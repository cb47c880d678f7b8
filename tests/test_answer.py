"""Cited answers with the real bundled model on the bundled sample (slow: runs SmolLM2-135M)."""
import json
import re
import subprocess
import sys

import pytest

from rag import settings
from rag.answer import Done, Passages, Text
from rag.records import QUESTIONER

pytestmark = pytest.mark.slow

B000, B001, B002, B003, B004 = "000_a8897b1a760cb632", "001_459d63326f653d88", "002_ade3d88f3c177ceb", \
    "003_ce4ce50f17c4f571", "004_e77c5bc27b68646e"
SSDO2 = "SENIOR STATE DEPARTMENT OFFICIAL TWO"
SAO = "SENIOR ADMINISTRATION OFFICIAL"
BLINKEN = "SECRETARY BLINKEN"

# (question in our own words, briefing that holds the answer, speaker who said it)
COVERED = [
    ("What did officials say about North Korea's recent missile tests?", B004, SAO),
    ("How many vaccine doses did the President say the United States would donate?", B000, SSDO2),
    ("Which countries hosted the ministerial on Libya?", B000, SSDO2),
    ("How long did the meeting in Rome with the Chinese counterpart last?", B003, SAO),
    ("What did Blinken say about the Minsk agreements?", B001, BLINKEN),
    ("What did the Secretary say about the Winter Olympics in China?", B001, BLINKEN),
    ("How did the official describe the tone of the meeting with President Putin?", B002, SAO),
    ("What is the One China policy based on?", B003, SAO),
    ("What was said about the C5+1 meeting with the Central Asian partners?", B000, SSDO2),
    ("Did the presidents agree to consult on cyber issues?", B002, SAO),
    ("What did Blinken say about donating COVID vaccines?", B001, BLINKEN),
    ("What did officials say about the meeting with Josep Borrell?", B000, SSDO2),
]
ABSENT = [
    "What did officials say about climate finance in Brazil?",
    "What did the White House say about the tax bill?",
    "What was said about hurricane relief in Florida?",
    "What did officials say about student loan forgiveness?",
]
# "What did officials say about the Summer Olympics in Paris?" is answered since the gate became one score
# (2026-12-01): the Beijing Winter Olympics passages score 0.565, and "Summer" is the only name the archive lacks
# (0.565 - 0.17 >= 0.39). A known near miss of the gate (eval/RESULTS.md, abstention).


def check_grounding(answer):
    """Every [n] resolves to a citation whose quote is the cited speaker's verbatim words."""
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)}
    by_n = {c.n: c for c in answer.citations}
    assert cited == set(by_n), (cited, set(by_n))
    for n, c in by_n.items():
        passage = answer.passages[n - 1]
        assert passage.role != QUESTIONER
        assert c.chunk_id == passage.chunk_id and c.speaker == passage.speaker
        assert c.quote and c.quote in passage.text          # verbatim, from the speaker's own words
        assert not passage.question or c.quote not in passage.question


@pytest.mark.parametrize("question,briefing,speaker", COVERED, ids=[q[0][:40] for q in COVERED])
def test_answers_cite_the_right_briefing_and_speaker(sample_index, question, briefing, speaker):
    a = sample_index.ask(question)
    assert not a.abstained, a.answer
    check_grounding(a)
    assert any(briefing in c.path and c.speaker == speaker for c in a.citations), \
        [(c.path, c.speaker) for c in a.citations]
    assert a.timings["total_s"] > 0 and "retrieve_s" in a.timings and "first_token_s" in a.timings


@pytest.mark.parametrize("question", ABSENT)
def test_topics_absent_from_the_sample_abstain(sample_index, question):
    a = sample_index.ask(question)
    assert a.abstained and a.citations == []
    assert "do not cover" in a.answer
    assert a.passages, "the closest passages are still shown"


def test_the_stream_sends_only_the_final_checked_text(sample_index):
    events = list(sample_index.ask_stream("What did officials say about North Korea's missile tests?"))
    assert isinstance(events[-1], Done)
    answer = events[-1].answer
    assert "".join(e.text for e in events if isinstance(e, Text)) == answer.answer
    assert any(isinstance(e, Passages) for e in events)
    check_grounding(answer)


def test_follow_up_is_rewritten_with_the_history(sample_index):
    first = "What did officials say about North Korea's missile tests?"
    a = sample_index.ask("And what about the Minsk agreements?",
                         history=[{"role": "user", "content": first}, {"role": "assistant", "content": "..."}])
    assert "minsk" in a.search_query.lower() and a.search_query != "And what about the Minsk agreements?"
    assert not a.abstained and any(B001 in c.path or B002 in c.path for c in a.citations)
    # pairs are accepted too, and a pronoun follow-up takes the earlier topic
    b = sample_index.ask("Did they also discuss it with Japan?", history=[(first, "...")])
    assert {"korea", "missile"} & set(re.findall(r"\w+", b.search_query.lower()))


def test_cli_ask_json_has_the_contract_fields(sample_index):
    out = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "Which countries hosted the ministerial on Libya?",
                          "--index", str(sample_index.path), "--json"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    for key in ("question", "answer", "abstained", "citations", "passages", "timings"):
        assert key in d
    assert d["abstained"] is False and d["citations"]
    for c in d["citations"]:
        assert set(c) >= {"n", "chunk_id", "path", "title", "date", "source_url", "speaker", "quote"}
    for p in d["passages"]:
        assert set(p) >= {"rank", "score", "chunk_id", "doc_id", "path", "title", "date", "source_url", "publisher",
                          "speaker", "role", "text", "question"}
    assert set(d["timings"]) >= {"retrieve_s", "first_token_s", "total_s"}


def test_cli_ask_bad_model_path_is_a_clear_error(sample_index, tmp_path):
    out = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "What did officials say about NATO?", "--index",
                          str(sample_index.path), "--model", str(tmp_path / "missing.gguf")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 2 and "missing.gguf" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("question,words", [
    # the best sentence only restates the question ("many of you have asked about the status of ..."): the
    # quote goes on to the sentence that answers
    ("What did the officials say about North Korea policy review?", "final stages of that review"),
    # "how many": the quote is the sentence with the number
    ("How many doses of Pfizer vaccine did the President announce the U.S. would donate?", "500 million"),
    # the answer sits in the sentence before the best one: the pair with it reads closer to the question than the
    # pair with the next one (the quote used to end at the best sentence)
    ("What did Sullivan tell Yang Jiechi about Taiwan?", "Taiwan Relations Act, Three Communiqués, and Six Assurances"),
    ("What kind of system did Pyongyang test that weekend, and do UN sanctions resolutions cover it?",
     "not covered by U.N. Security Council resolutions"),
    # the answer is the long sentence after the best one: the pair is quoted and cut at a word, as any long quote
    ("Which regional issues came up when Blinken sat down with Egypt's top diplomat in New York?",
     "Eastern Mediterranean Gas Forum"),
    # the question's rarer words choose the sentence: the one naming both counterparts
    ("Who are the Japanese and South Korean counterparts Jake Sullivan is hosting?", "Suh Hoon"),
])
def test_the_digest_quotes_the_sentence_that_answers(sample_index, question, words):
    from rag.answer.digest import _quote
    from rag.answer.evidence import select_digest
    from rag.answer.pipeline import gather
    _, _, views, evidence = gather(sample_index, question, 5)
    shown = [_quote(views[e.n - 1].hit.text[e.start:e.end]) for e in select_digest(evidence)]   # as the digest shows
    assert any(words in q for q in shown), shown


def _digest(index, question: str) -> str:
    """The answer's first text (the digest), read from the stream before the model is loaded."""
    from rag.answer.events import Text
    from rag.answer.pipeline import ask_stream
    return next(e.text for e in ask_stream(index, question) if isinstance(e, Text))


@pytest.mark.parametrize("question,missing", [
    # the briefing says the one-on-one "was extensive" and gives no length: the heading says no quote has the number
    ("How long did the one-on-one between President Biden and President Putin last?", "number"),
    # the Secretary hopes the dam talks resume, and says when nowhere
    ("When will the negotiation on the Grand Ethiopian Renaissance Dam resume?", "date"),
    ("How many doses of Pfizer vaccine did the President announce the U.S. would donate?", None),
])
def test_the_digest_says_when_no_quote_gives_the_number_asked_for(sample_index, question, missing):
    from rag.answer import prompting
    digest = _digest(sample_index, question)
    heading = digest.splitlines()[0]
    assert heading == (prompting.fill("digest_header_not_given", what=missing) if missing else
                       prompting.template("digest_header")), digest
    assert re.search(r"\[\d+\]", digest), digest   # the quotes are still shown, cited


# Model sentences that passed the checker in the tuning sample eval (2026-12-01 evening) and say nothing: each hands
# the question back, or talks about the sources. The last two are real answers the model wrote (held-out eval).
HANDED_BACK = [
    ("Does Blinken see a link between the migrant standoff on Belarus's borders and Moscow's pressure on Kyiv?",
     "According to SECRETARY BLINKEN, the migrant standoff on Belarus's borders and Moscow's pressure on Kyiv [1]."),
    ("What priorities do Tokyo and Seoul each bring to coordination on Pyongyang?",
     "According to SENIOR ADMINISTRATION OFFICIAL, the priorities of Tokyo and Seoul each bring to coordination on "
     "Pyongyang are: [5]."),
    ("Why didn't Washington publicize the weapons test when it happened?",
     "According to SENIOR ADMINISTRATION OFFICIAL, the passage is a detail from the briefings on the weapons test by "
     "North Korea [4]."),
]
ANSWERS = [
    ("Who hosted the Libya ministerial the Secretary joined?",
     "According to SENIOR STATE DEPARTMENT OFFICIAL TWO, the Secretary then joined a ministerial on Libya, which was "
     "hosted by France, Germany, and Italy [1]."),
    ("Where is the Under Secretary for Political Affairs traveling?",
     "According to MODERATOR, the Under Secretary for Political Affairs from the NSC will travel to Brussels "
     "tomorrow [2]."),
]


@pytest.mark.parametrize("question, sentence", HANDED_BACK + ANSWERS)
def test_a_lead_sentence_must_say_more_than_the_question(question, sentence):
    from rag.answer.digest import useful_lead
    assert useful_lead(sentence, question) is ((question, sentence) in ANSWERS)


# gold_sample s016: two model sentences that passed the checker on [the Reuters NEXT passage], the first on int8
# (the eval's own check: unsupported; Blinken said Russia must "pull back the forces that it's massed near the
# Ukraine border"), the second on torch (supported): what each adds to the question is, or is not, said there.
REUTERS_Q = ("In his Reuters NEXT interview, what did Blinken say was the first thing Russia must do to defuse the "
             "Ukraine crisis?")


@pytest.mark.parametrize("sentence, kept", [
    ("The first thing Russia must do to defuse the Ukraine crisis is to address the issue of Russian military "
     "actions against Ukraine [1].", False),
    ("The first thing Russia must do to defuse the Ukraine crisis is to remove the Russian military from the border "
     "with Ukraine [1].", True),
])
def test_what_a_lead_sentence_adds_to_the_question_must_be_in_its_passage(sample_index, sentence, kept):
    from rag.answer.pipeline import gather
    from rag.answer.verify import adds_what_a_passage_says, verify
    from dataclasses import replace as changed
    _, passages, views, _ = gather(sample_index, REUTERS_Q, 5)
    n = next(v.n for v in views if "pull back the forces" in v.hit.text)
    sentence = sentence.replace("[1]", f"[{n}]")
    checked = verify(sentence, passages, sample_index.embedder.encode, replace=False, views=views)
    assert kept or not checked.text   # the checker's words rule (cover_min 0.9 since 2026-12-02) refuses the wrong one
    # the rule of this test stands on its own: at the checker's old cover_min (0.6) both sentences pass the checker
    settings.use(changed(settings.current(), answer=changed(settings.current().answer, cover_min=0.6)))
    assert verify(sentence, passages, sample_index.embedder.encode, replace=False, views=views).text
    assert adds_what_a_passage_says(sentence, REUTERS_Q, views, [n]) is kept


def test_a_piece_of_a_lead_sentence_already_shown_is_not_shown_again(sample_index):
    """gold_sample s005 (int8, 2026-12-02): the model wrote a sentence, then its first half again ("..., so it
    [1]."). Both pass the checker; the second adds nothing and reads as garbled, so it is not shown."""
    from rag.answer.pipeline import _summary, gather
    from rag.records import ModelUse
    q = "How much new humanitarian money had Washington recently pledged for Afghans, as of the UNGA recap call?"
    _, passages, views, _ = gather(sample_index, q, 5)
    n = next(v.n for v in views if "The Chinese are not holding any Taliban" in v.hit.text)
    said = (f"According to {passages[n - 1].speaker}, the Chinese are not holding any Taliban or Afghan reserves, "
            f"so it’s easy for them to make comments on the money that belongs to the Afghan people [{n}]. ")
    piece = f"According to {passages[n - 1].speaker}, the Chinese are not holding any Taliban or Afghan reserves, so it [{n}]."

    def stream():
        yield said
        yield piece

    use = ModelUse("test", "test")
    shown = "".join(_summary(stream(), q, passages, views, sample_index.embedder.encode, {}, use, lambda: None))
    assert use.sentences_read == 2 and use.sentences_shown == 1
    assert "money that belongs to the Afghan people" in shown and "so it [" not in shown


def test_a_lead_sentence_must_sum_up_the_quotes_shown(sample_index):
    """gold_sample s005 (2026-12-02): the model was given each digest quote with a sentence around it, and wrote
    under "In short:" a true sentence of that context ("the Chinese are not holding any Taliban or Afghan reserves")
    while the quote above it gives the $64 million asked for. A summary sentence is shown only when the words backing
    it are within the digest's quotes."""
    from rag.answer.evidence import select_digest
    from rag.answer.pipeline import _summary, gather
    from rag.lexicon import split_sentences
    from rag.records import ModelUse
    q = "How much new humanitarian money had Washington recently pledged for Afghans, as of the UNGA recap call?"
    _, passages, views, evidence = gather(sample_index, q, 5)
    digest = select_digest(evidence)
    quoted = {e.n: (e.start, e.end) for e in digest}
    money = next(e for e in digest if "$64 million" in passages[e.n - 1].text[e.start:e.end])
    n = next(v.n for v in views if "The Chinese are not holding any Taliban" in v.hit.text)
    context = (f"According to {passages[n - 1].speaker}, the Chinese are not holding any Taliban or Afghan reserves, "
               f"so it’s easy for them to make comments on the money that belongs to the Afghan people [{n}].")
    quote = passages[money.n - 1].text[money.start:money.end]
    said = next(quote[a:b] for a, b in split_sentences(quote) if "$64" in quote[a:b])
    pledge = f"According to {passages[money.n - 1].speaker}, {said.rstrip('. ')} [{money.n}]."   # the quote itself

    def shown(sentence, rule):
        use = ModelUse("test", "test")
        text = "".join(_summary((s for s in [sentence]), q, passages, views, sample_index.embedder.encode, {}, use,
                                lambda: None, quoted if rule else None))
        return use.sentences_shown, text

    assert shown(context, rule=False)[0] == 1          # true, and the checker passes it
    assert shown(context, rule=True)[0] == 0           # but it is not what the quotes above say
    count, text = shown(pledge, rule=True)
    assert count == 1 and "$64" in text
