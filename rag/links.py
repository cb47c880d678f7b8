"""A permalink to a quote: the briefing's page address with a text fragment (`#:~:text=START,END`).
Takes a page URL and a verbatim quote; gives the URL that opens the page scrolled to the quote, highlighted.

Browsers that follow text fragments: Chrome and Edge since 2020, Safari 16.1, Firefox 131. The fragment holds
up to EDGE_WORDS words from the start of the quote's first sentence and from the end of its last (the whole quote
when it is one short sentence). A browser matches each part case-blind and across line breaks, but inside one
paragraph, and a space in it does not match the "&nbsp; " that the White House and State Department pages put
between sentences (seen in Chromium 156: tests/test_browser.py), so neither part crosses a sentence; the range
between them may. An ellipsis that cuts a quote's edge, and words past a bracketed editorial mark, are left out;
a sentence under MIN_WORDS words ("Yes.") does not place the quote. A quote the page does not hold (a page
edited since) opens the page at its top, as the plain address does.
"""
from __future__ import annotations

import re
from typing import Optional
from urllib.parse import quote as percent, unquote

EDGE_WORDS = 5      # words at each end: unique on a briefing's page, short enough to survive a stray character
MIN_WORDS = 3       # a sentence shorter than this ("Yes.", "Thank you.") is too common on a page to find the place
_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"[.!?][”\"’')\]]*$")
_CUT = re.compile(r"^(?:…|\.\.\.)+|(?:…|\.\.\.)+$")
_PLAIN = re.compile(r"[\w’'.,;:!?%$()“”\"—–-]+")   # words as printed: letters with their punctuation


def quote_url(url: Optional[str], quote: str) -> Optional[str]:
    """`url` with a text fragment for `quote`; None without a URL; the URL itself when the quote has no words."""
    if not url:
        return None
    base = url.split("#", 1)[0]
    sentences = _sentences(quote)
    if not sentences:
        return base
    long = [s for s in sentences if len(s) >= MIN_WORDS] or sentences
    first, last = long[0], long[-1]
    if first is last and len(first) <= 2 * EDGE_WORDS:
        start = _plain_run(first, len(first))
        end = [] if len(start) == len(first) else _plain_run(first[::-1], len(first))[::-1]   # stops at the mark
    else:
        start, end = _plain_run(first, EDGE_WORDS), _plain_run(last[::-1], EDGE_WORDS)[::-1]
    if not start:
        return base
    if not end:
        return f"{base}#:~:text={_encode(' '.join(start))}"
    return f"{base}#:~:text={_encode(' '.join(start))},{_encode(' '.join(end))}"


def fragment_words(url: str) -> list[str]:
    """The text a `quote_url` fragment asks for: one string, or the start and the end (for tests and checks)."""
    _, _, frag = url.partition("#:~:text=")
    return [unquote(p) for p in frag.split(",")] if frag else []


def _sentences(quote: str) -> list[list[str]]:
    """The quote's words by sentence (a paragraph break ends one too), without an ellipsis that cuts an edge."""
    out: list[list[str]] = []
    for paragraph in _PARAGRAPH.split(quote.strip()):
        current: list[str] = []
        for word in paragraph.split():
            word = _CUT.sub("", word)
            if not word:
                continue
            current.append(word)
            if _SENTENCE_END.search(word):
                out.append(current)
                current = []
        if current:
            out.append(current)
    return out


def _plain_run(words: list[str], most: int) -> list[str]:
    """The first `most` words, up to the first one that is not plain (an editorial mark: "[Deputy")."""
    run = []
    for w in words[:most]:
        if not _PLAIN.fullmatch(w):
            break
        run.append(w)
    return run


def _encode(text: str) -> str:
    # "-", "," and "&" separate a text fragment's parts: percent-encoded inside one (the WICG text-fragment spec)
    return percent(text, safe="").replace("-", "%2D")
