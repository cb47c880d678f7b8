"""Surveys ("what did officials say about X" across the archive): records, order, verbatim attributed quotes,
exports, the chart's data, the chat's routing, and on the CC0 corpus (when present) the briefings of tuning topics."""
import csv
import io
import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from rag.errors import RagError
from rag.records import OFFICIAL, Survey
from rag.retrieval import Filters
from rag.survey.chart import chart_rows, save_chart
from rag.survey.export import read_csv, to_csv, to_markdown
from rag.survey.intent import SurveyRequest, narrowed, survey_request

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "eval"))
from check_gold import normalize, parse_turns  # noqa: E402  (the independent parser of the gold checks)


def assert_verbatim_and_attributed(survey: Survey):
    """Every quote occurs in the raw file, inside a turn labelled with the speaker the statement names."""
    for s in survey.statements:
        turns = parse_turns(Path(s.path).read_text(encoding="utf-8", errors="replace"))
        quote = normalize(s.quote)
        assert any(t.label == s.speaker and quote in t.text for t in turns), (s.n, s.speaker, s.quote)


def test_survey_records_are_dated_numbered_and_verbatim(sample_index):
    survey = sample_index.survey("Ukraine")
    assert not survey.abstained and len(survey.statements) >= 2
    assert [s.n for s in survey.statements] == list(range(1, len(survey.statements) + 1))
    assert len({s.doc_id for s in survey.statements}) == len(survey.statements)   # one statement per briefing
    dated = [s.date for s in survey.statements if s.date]
    assert dated == sorted(dated)
    assert all(s.date for s in survey.statements[:len(dated)])        # undated ones come last
    assert all(s.role == OFFICIAL for s in survey.statements)
    # the quote names the topic, or the passage answers a question that does ("this company", "that case")
    assert all("ukrain" in s.quote.lower() or "ukrain" in (s.question or "").lower() for s in survey.statements)
    assert sum("ukrain" in s.quote.lower() for s in survey.statements) >= 2
    assert_verbatim_and_attributed(survey)
    # the overview cites statements that exist, and quotes them verbatim
    cited = [int(n) for n in re.findall(r"\[(\d+)\]", survey.overview)]
    assert cited and all(1 <= n <= len(survey.statements) for n in cited)
    for n in cited:
        assert survey.statements[n - 1].quote in survey.overview
    assert str(len(survey.statements)) in survey.overview
    # who said it most: counts are briefings per speaker
    assert sum(c.briefings for c in survey.speakers) >= len(survey.statements)


def test_timeline_and_chart_hold_the_same_counts(sample_index):
    survey = sample_index.survey("North Korea")
    assert survey.statements and survey.timeline
    listed = [n for p in survey.timeline for n in p.statements]
    assert sorted(listed) == [s.n for s in survey.statements]
    by_n = {s.n: s for s in survey.statements}
    for p in survey.timeline:
        for n in p.statements:
            d = by_n[n].date
            assert (d is None and p.start is None) or (p.start <= d <= p.end)
    rows = chart_rows(survey)
    per_period = {}
    for r in rows:
        per_period[r["period"]] = per_period.get(r["period"], 0) + r["briefings"]
    assert per_period == {p.label: len(p.statements) for p in survey.timeline if p.start}


def test_a_topic_the_archive_does_not_hold_abstains(sample_index):
    survey = sample_index.survey("budget for a crewed mission to Mars")
    assert survey.abstained and not survey.statements and not survey.timeline
    assert "do not cover" in survey.overview
    assert chart_rows(survey) == []


def test_filters_apply_to_surveys(sample_index):
    blinken = sample_index.survey("Russia", speaker="Blinken")
    assert blinken.statements and all("BLINKEN" in s.speaker for s in blinken.statements)
    assert blinken.overview.startswith("Blinken addressed")
    dated = sample_index.survey("Russia", date_from="2021-06-01", date_to="2021-06-30")
    assert dated.statements and all(s.date and "2021-06-01" <= s.date <= "2021-06-30" for s in dated.statements)
    # a reporter's words are never a statement: with the default (officials) no quote is from a question turn
    reporters_topic = sample_index.survey("denuclearization")
    assert reporters_topic.statements
    assert_verbatim_and_attributed(reporters_topic)


def test_exports_round_trip(sample_index, tmp_path):
    survey = sample_index.survey("Russia")
    assert Survey.from_dict(json.loads(json.dumps(survey.to_dict()))) == survey
    rows = read_csv(to_csv(survey))
    assert [(r["n"], r["date"], r["title"], r["url"], r["speaker"], r["quote"]) for r in rows] == \
        [(s.n, s.date or "", s.title, s.source_url or "", s.speaker, s.quote) for s in survey.statements]
    md = to_markdown(survey)
    table = md.split("## Sources", 1)[1].strip().splitlines()[2:]
    cells = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in table]
    assert [(int(c[0]), c[1], c[4], c[5]) for c in cells] == \
        [(s.n, s.date or "", s.speaker, " ".join(s.quote.split())) for s in survey.statements]
    for suffix, magic in ((".png", b"\x89PNG"), (".svg", b"<?xml")):
        out = save_chart(survey, tmp_path / f"chart{suffix}")
        assert out.read_bytes().startswith(magic)
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(RagError, match="cannot write the chart"):   # a folder that cannot be made: a clear error
        save_chart(survey, tmp_path / "a-file" / "chart.png")


def test_cli_survey(sample_index, tmp_path):
    env_run = dict(capture_output=True, text=True, timeout=300, cwd=ROOT)
    base = [sys.executable, "-m", "rag.cli", "survey", "Ukraine", "--index", str(sample_index.path)]
    out = subprocess.run(base + ["--csv", "--plot", str(tmp_path / "c.png")], **env_run)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["quote"] for r in rows] == [s.quote for s in sample_index.survey("Ukraine").statements]
    assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")
    out = subprocess.run(base + ["--plot", str(tmp_path / "c.gif")], **env_run)
    assert out.returncode == 2 and "c.gif" in out.stderr and ".png" in out.stderr
    out = subprocess.run(base[:4] + ["Ukraine", "--index", str(sample_index.path), "--since", "June 2021"], **env_run)
    assert out.returncode == 2 and "YYYY-MM-DD" in out.stderr


@pytest.mark.parametrize("question, topic, speaker", [
    ("What did officials say about Syria aid?", "Syria aid", None),
    ("How has the White House described the Afghanistan withdrawal?", "the Afghanistan withdrawal", None),
    ("Who talked about student loans?", "student loans", None),
    ("What has been said about the Bab al-Hawa crossing?", "the Bab al-Hawa crossing", None),
    ("What has Kirby said about the Houthis?", "the Houthis", "Kirby"),
    ("survey: inflation", "inflation", None),
])
def test_survey_questions_are_recognised(question, topic, speaker):
    req = survey_request(question)
    assert req is not None and req.topic == topic and req.speaker == speaker


@pytest.mark.parametrize("question", [
    "What did Kirby say about the Houthis on May 3?",
    "On what date were Libyans due to vote?",
    "What did they say about Japan and Korea?",
    "What did the Secretary say about the Winter Olympics in China?",
])
def test_pointed_questions_stay_answers(question):
    assert survey_request(question) is None


def test_follow_ups_narrow_the_last_survey():
    last = SurveyRequest("Syria")
    assert narrowed("and in 2023?", last) == SurveyRequest("Syria", None, "2023-01-01", "2023-12-31")
    assert narrowed("only Kirby", last) == SurveyRequest("Syria", "Kirby")
    assert narrowed("since March 2022", last) == SurveyRequest("Syria", None, "2022-03-01", None)
    assert narrowed("what about Jean-Pierre in 2024?", last) == \
        SurveyRequest("Syria", "Jean-Pierre", "2024-01-01", "2024-12-31")
    assert narrowed("What is the status of the policy review?", last) is None
    assert narrowed("What did officials say about Haiti?", last) is None   # a new survey, not a follow-up
    req = survey_request("What did officials say about Syria in 2023?")
    assert req == SurveyRequest("Syria", None, "2023-01-01", "2023-12-31")


def test_chat_routes_survey_questions_and_follow_ups(sample_index):
    from reliability_util import handler, last as _last
    from ui.app import build_app
    respond = handler(build_app(sample_index, status="test", model="/nonexistent/model.gguf"), "respond")
    chat, history, panel, _, chart, last = _last(respond("What did officials say about Russia?", [], [], "any", "any",
                                                         "any", "", "", False, "auto", None))
    survey = sample_index.survey("Russia")
    assert 'id="survey-timeline"' in panel and chart["visible"] is True
    assert int(chart["value"]["briefings"].sum()) == len([s for s in survey.statements if s.date])
    assert last == {"topic": "Russia", "speaker": None, "date_from": None, "date_to": None}
    assert "Most often" in chat[-1]["content"] and "Earliest" in chat[-1]["content"]
    chat, history, panel, _, chart, last = _last(respond("only Blinken", chat, history, "any", "any", "any", "", "",
                                                         False, "auto", last))
    assert last["speaker"] == "Blinken" and "BLINKEN" in panel and "SENIOR ADMINISTRATION" not in panel
    # forced to answer: the same survey question gets a cited answer, and the chart is hidden
    *_, chart, last = _last(respond("What did officials say about Russia?", [], [], "any", "any", "any", "", "",
                                    False, "answer", None))
    assert chart["visible"] is False and last is None


# ---- the CC0 corpus: tuning topics only (the held-out topics are measured by eval/survey_eval.py) ----------

TUNING_TOPIC = "Evergrande"


@pytest.fixture(scope="module")
def evergrande_index(corpus_dir, tmp_path_factory):
    from rag import Index
    gold = [json.loads(x) for x in (ROOT / "eval" / "topics_cc0.jsonl").read_text().splitlines() if x.strip()]
    item = next(i for i in gold if i["topic"] == TUNING_TOPIC and i["split"] == "tuning")
    files = sorted({b["file"] for b in item["briefings"]} | {r["file"] for r in item["rejected"]})
    others = sorted(p for p in (corpus_dir / "press-briefings" / "2021-10").glob("*.md"))[:12]
    paths = [corpus_dir / f for f in files] + [p for p in others if str(p.relative_to(corpus_dir)) not in files]
    index = Index.build(paths, path=tmp_path_factory.mktemp("evergrande") / "index", progress=False)
    return index, item


def test_corpus_survey_finds_the_gold_briefings(evergrande_index, corpus_dir):
    index, item = evergrande_index
    survey = index.survey(TUNING_TOPIC)
    found = {str(Path(s.path).resolve().relative_to(corpus_dir.resolve())) for s in survey.statements}
    gold = {b["file"] for b in item["briefings"]}
    assert gold <= found | {f for f in gold if not (corpus_dir / f).exists()}
    assert_verbatim_and_attributed(survey)
    assert all(s.date for s in survey.statements)


def test_a_common_topic_word_inside_another_name_is_not_the_topic(sample_index, corpus_dir):
    """"border wall" (tuning topic u05): in the President's "from the Wall Street Journal to the Border Patrol"
    neither word is the topic's, since the corpus writes both in lower case; a gold sentence names both; a sentence
    naming "border" alone misses the weight of "wall" (what settings.survey.missing_penalty is charged on)."""
    from rag.settings import current
    from rag.survey.find import held, mark_common_words, share, topic_terms
    names = (corpus_dir / "speeches-remarks/2024-02/2024-02-06-remarks-by-president-biden-urging-congress-to-pass-"
             "the-emergency-national-security-supplemental-appropriations-act.md").read_text(encoding="utf-8")
    line = next(x for x in names.splitlines() if "Wall Street Journal to the Border Patrol" in x)
    gold = next(json.loads(x) for x in (ROOT / "eval" / "topics_cc0.jsonl").read_text().splitlines()
                if x.strip() and json.loads(x)["id"] == "u05")
    evidence = [b["evidence"] for b in gold["briefings"]]
    assert all(normalize(e) in normalize((corpus_dir / b["file"]).read_text(encoding="utf-8"))
               for e, b in zip(evidence[:3], gold["briefings"][:3]))
    terms = topic_terms(sample_index._view, "border wall")
    mark_common_words(terms, evidence + [line])
    assert {t.word: t.common for t in terms} == {"border": True, "wall": True}
    assert held(line, terms) == frozenset()
    both = held(evidence[0], terms)
    assert both == frozenset(t.stem for t in terms)
    border = frozenset(t.stem for t in terms if t.word == "border")
    assert held("We need more agents at the border.", terms) == border
    wall = next(t for t in terms if t.word == "wall")
    assert 1 - share(border, terms) == pytest.approx(wall.weight / sum(t.weight for t in terms))
    assert current().survey.names_apart and current().survey.missing_penalty > 0


def test_who_said_it_most_counts_a_person_once_whatever_the_label():
    """The White House labels the President "THE PRESIDENT", "PRESIDENT BIDEN" or (a speech as prepared)
    "PRESIDENT JOE BIDEN": one person, counted once; "THE PRESIDENT" of 2025 is another, and the First Lady, who
    shares his surname, another still. The chart groups speakers the same way."""
    from rag.records import Period, Statement
    from rag.survey.compose import speaker_counts

    def st(n, speaker, date):
        return Statement(n, f"c{n}", f"d{n}", f"p{n}.md", "t", date, None, "White House", "press briefing",
                         speaker, OFFICIAL, "We will keep working on it.")
    items = [st(1, "THE PRESIDENT", "2022-03-01"), st(2, "PRESIDENT BIDEN", "2023-05-04"),
             st(3, "PRESIDENT JOE BIDEN", "2024-03-07"), st(4, "THE PRESIDENT", "2025-02-03"),
             st(5, "FIRST LADY JILL BIDEN", "2024-10-10"), st(6, "MS. PSAKI", "2021-05-24"),
             st(7, "PRESS SECRETARY JEN PSAKI", "2021-06-01")]
    counts = [(c.speaker, c.briefings) for c in speaker_counts(items)]
    assert counts[:2] == [("PRESIDENT BIDEN", 3), ("MS. PSAKI", 2)]
    assert dict(counts) == {"PRESIDENT BIDEN": 3, "MS. PSAKI": 2, "FIRST LADY JILL BIDEN": 1,
                            "THE PRESIDENT (Trump)": 1}
    survey = Survey(topic="t", overview="", abstained=False, statements=items,
                    timeline=[Period("2021-2025", "2021-01-01", "2025-12-31", [s.n for s in items])])
    assert {r["speaker"]: r["briefings"] for r in chart_rows(survey)} == dict(counts)


def test_a_persons_surname_names_the_person_when_asked(sample_index):
    """With settings.survey.surnames (off: held out it took every other Reed and Jackson for the person), a topic
    naming a person ("Alexei Navalny") is named by the surname the archive writes after "Mr.": the sample says
    "the attempt to murder Mr. Navalny" and never "Alexei", so without the rule the missing first name (the topic's
    rarest word) keeps the briefing out."""
    from rag import settings
    from rag.survey.find import candidates, held
    assert not settings.current().survey.surnames
    assert sample_index.survey("Alexei Navalny").abstained
    settings.use(replace(settings.current(), survey=replace(settings.current().survey, surnames=True)))
    survey = sample_index.survey("Alexei Navalny")
    assert [s.path.rsplit("/", 1)[-1] for s in survey.statements] == ["002_ade3d88f3c177ceb.txt"]
    assert "Mr. Navalny" in survey.statements[0].quote
    assert_verbatim_and_attributed(survey)
    c = candidates(sample_index._view, "Alexei Navalny", Filters(), settings.current().survey)
    assert {t.word: (t.person, t.surname) for t in c.terms} == {"Alexei": (0, False), "Navalny": (0, True)}
    assert held("We spoke about Navalny.", c.terms) == frozenset(t.stem for t in c.terms)
    # two capitalised words that no text writes after an honorific stay two words
    pipeline = candidates(sample_index._view, "Colonial Pipeline", Filters(), settings.current().survey)
    assert all(t.person == -1 for t in pipeline.terms)


def test_a_thin_survey_offers_shorter_wordings_that_find_more(sample_index):
    """rag.survey.wording: "climate summit" finds nothing on the sample; "climate" and "summit" each find briefings,
    offered with their counts, which are what a survey of that wording finds. A wording keeps the topic's name."""
    import importlib
    wording = importlib.import_module("rag.survey.wording")
    from ui.render import survey_markdown
    survey = sample_index.survey("climate summit")
    assert survey.abstained and [w.topic for w in survey.wordings] == ["climate", "summit"]
    for w in survey.wordings:
        assert w.briefings == len(sample_index.survey(w.topic).statements) >= 3
    assert "“climate” (3 briefings)" in survey_markdown(survey)
    assert Survey.from_dict(json.loads(json.dumps(survey.to_dict()))) == survey
    view = sample_index._view
    assert wording._is_name(view, "Blinken") and not wording._is_name(view, "summit")
    assert sample_index.survey("Russia").wordings == []          # one word: nothing shorter


def test_a_short_survey_quote_is_shown_with_the_question_it_answers(sample_index):
    """"Thanks, Kaitlan. I do not have any comments for you on that." is in the sample's survey of Russia because the
    question it answers is about Russia; the timeline card and the CLI show that question beside it, and a long quote
    that speaks for itself goes without."""
    from rag.survey.compose import shown_with_question
    from ui.render import render_survey
    survey = sample_index.survey("Russia")
    short = next(s for s in survey.statements if s.quote.startswith("Thanks, Kaitlan."))
    assert shown_with_question(short) and "Russia" in short.question
    html = render_survey(survey)
    card = html.split(f'id="src-{short.n}"', 1)[1].split('class="src-card"', 1)[0]
    assert "In reply to QUESTION" in card and "Russia" in card
    long = [s for s in survey.statements if len(s.quote.split()) >= 25]
    assert long and not any(shown_with_question(s) for s in long)
    # the overview says it answers a question where it quotes it as the earliest or latest statement
    assert f"answering a reporter's question: “{short.quote}” [{short.n}]" in survey.overview
    assert survey.overview.count("answering a reporter's question") == 1
