"""Dates named in a question: parsed into a widened period (rag.retrieval.dates) and preferred by hybrid search."""
import pytest

from rag.retrieval.dates import question_period

BRIEFING = """---
title: "Press Briefing by Press Secretary {who}"
date: '{date}'
---
Q:  Is there any progress on the ceasefire talks?

MS. PSAKI:  {words}

Q:  And on the pipeline?

MS. PSAKI:  {other}
"""


@pytest.mark.parametrize("question,period", [
    ("What did Kirby say in early September 2024?", ("2024-08-01", "2024-10-31")),
    ("After the barrage on October 1, 2024, what did Sullivan say?", ("2024-09-24", "2024-10-08")),
    ("In mid-December 2021, what was the line on student debt?", ("2021-10-31", "2022-01-31")),
    ("Ahead of the June 2021 visit, how much was requested for 2022?", ("2021-05-01", "2021-07-31")),  # a month wins
    ("What did officials say in 2022 about NATO?", ("2021-12-01", "2023-01-31")),
    ("Between March 2021 and Sept. 5, 2024, what changed?", ("2021-01-29", "2024-09-12")),
    ("What did Blinken say about the Minsk agreements?", None),
    ("What did he say in May?", None),                      # no year: no period
    ("How many of the 2,021 doses arrived?", None),         # a number, not a year
])
def test_question_period(question, period):
    assert question_period(question) == period


def test_hybrid_search_prefers_briefings_from_the_period_the_question_names(tmp_path, monkeypatch):
    """Two briefings say the same words on different dates (equal scores without dates, so one of the two
    questions would get the wrong briefing first): the date in the question decides."""
    from rag import Index
    words = "The ceasefire talks continue, and we are encouraged by the progress the parties have made this week."
    (tmp_path / "a.md").write_text(BRIEFING.format(who="A", date="2021-03-10", words=words,
                                                   other="We are reviewing the pipeline decision with our partners."))
    (tmp_path / "b.md").write_text(BRIEFING.format(who="B", date="2023-11-20", words=words,
                                                   other="The pipeline decision was made last month by the agency."))
    idx = Index.build([str(tmp_path / "a.md"), str(tmp_path / "b.md")], path=tmp_path / "idx", progress=False)
    for month, date in (("March 2021", "2021-03-10"), ("November 2023", "2023-11-20")):
        hits = idx.search(f"What did Psaki say about progress in the ceasefire talks in {month}?", k=2)
        assert hits[0].date == date and "ceasefire" in hits[0].text, [(h.date, h.text[:40]) for h in hits]
    # dense and bm25 stay plain baselines, and an explicit date filter replaces the preference
    hits = idx.search("progress in the ceasefire talks in March 2021", k=2, date_from="2023-01-01")
    assert {h.date for h in hits} == {"2023-11-20"}
