"""Quote links (rag.links): every citation opens its briefing's page at the quote (a URL text fragment).
A browser finds a fragment's start and end words each inside one paragraph, the end after the start, so the words
a link asks for must be the transcript's own, in that order, each within a paragraph of the file;
tests/test_browser.py follows such a link in Chromium."""
import re
from pathlib import Path

import pytest

from rag.links import EDGE_WORDS, fragment_words, quote_url
from rag.survey.export import read_csv, to_csv

URL = "https://www.state.gov/briefing/"


def _paragraphs(path: str) -> list[str]:
    """The file's paragraphs as a browser matches a fragment in them: split at blank lines, case-blind, spaces and
    line breaks folded, a lone no-break space read as a space, but "&nbsp; " (between sentences) not (Chromium
    156 matches no fragment across it: tests/test_browser.py)."""
    text = Path(path).read_text(encoding="utf-8")
    fold = lambda p: re.sub(r"[ \t\r\n]+", " ", re.sub("\u00a0(?=\\S)", " ", p)).strip().casefold()
    return [fold(p) for p in re.split(r"\n\s*\n", text) if p.strip()]


def _on_the_page(url: str, path: str) -> bool:
    """START inside one paragraph, END inside the same or a later one, after START (how browsers match)."""
    parts = [p.casefold() for p in fragment_words(url)]
    paras = _paragraphs(path)
    for i, para in enumerate(paras):
        at = para.find(parts[0])
        if at < 0:
            continue
        if len(parts) == 1 or para.find(parts[1], at + len(parts[0])) >= 0 or \
                any(parts[1] in later for later in paras[i + 1:i + 6]):
            return True
    return False


def test_a_quote_link_holds_the_quotes_first_and_last_words():
    quote = ("We’re in the final stages of that review, and next week plan to host the national security advisors "
             "of Japan and the Republic of Korea.")
    url = quote_url(URL, quote)
    assert url.startswith(URL + "#:~:text=")
    assert fragment_words(url) == ["We’re in the final stages", "and the Republic of Korea."]
    assert "," not in url.split("=", 1)[1].split(",")[0] and "%2C" in quote_url(URL, "Yes, we did.")
    assert "%2D" in quote_url(URL, "a well-known case") and "-" not in quote_url(URL, "a well-known case")[len(URL):]
    assert fragment_words(quote_url(URL, "Yes.")) == ["Yes."]                        # short: the whole quote
    assert fragment_words(quote_url(URL, "… and that is up to Congress.")) == ["and that is up to Congress."]
    # an editorial mark ends the words asked for: what follows may not be the page's text
    assert fragment_words(quote_url(URL, "I have [Deputy Secretary] an update on the pipeline for all of you "
                                         "this afternoon, thanks.")) == ["I have", "of you this afternoon, thanks."]
    assert quote_url(None, "words") is None and quote_url(URL + "#top", "") == URL
    assert len(fragment_words(quote_url(URL, " ".join(f"w{i}" for i in range(30))))[0].split()) == EDGE_WORDS
    # neither part crosses a sentence (the pages put "&nbsp; " between sentences); "Thanks, Kaitlan." is too short
    # to place the quote
    assert fragment_words(quote_url(URL, "Thanks, Kaitlan. I do not have any comments for you on that.")) == \
        ["I do not have any comments for you on that."]
    assert fragment_words(quote_url(URL, "Yes. We are in the final stages of the review. It ends next week, "
                                         "in time for the summit. Thanks.")) == ["We are in the final", "in time for the summit."]


def test_survey_and_answer_citations_link_to_their_quote_on_the_page(sample_index):
    survey = sample_index.survey("Russia")
    answer = sample_index.ask("What is the status of the North Korea policy review?")
    cited = [s.citation() for s in survey.statements] + answer.citations
    assert len(survey.statements) >= 3 and answer.citations
    for c in cited:
        assert c.source_url, f"{c.path} has no address in data/briefings/manifest.json"
        assert c.quote_url.startswith(c.source_url.split("#")[0] + "#:~:text=")
        assert _on_the_page(c.quote_url, c.path), (c.quote_url, c.quote)
    rows = read_csv(to_csv(survey))
    assert [r["quote_url"] for r in rows] == [s.quote_url for s in survey.statements]


def test_corpus_survey_quote_links_are_on_their_pages(corpus_dir, tmp_path):
    """The same on CC0 files: the words each link asks for are in one paragraph of the transcript."""
    from rag import Index
    files = sorted((corpus_dir / "press-briefings" / "2023-01").glob("*.md"))[:12]
    if not files:
        pytest.skip("no January 2023 briefings in the corpus")
    index = Index.build(files, path=tmp_path / "idx", progress=False)
    survey = index.survey("Ukraine")
    assert survey.statements
    for s in survey.statements:
        assert s.quote_url and _on_the_page(s.quote_url, s.path), (s.quote_url, s.quote)
