"""Text clean-up shared by the parsers: spaces, markdown escapes, inline HTML, paragraphs, site chrome.
Takes raw document text; gives clean paragraphs and the publisher a saved page's chrome reveals.

A document body becomes a list of paragraphs. Each paragraph keeps its first raw line
(`head`: spaces normalised but runs of spaces kept, so speaker-label detection can see
"LABEL:<two spaces>") and its joined text (hard wraps undone, escapes undone, one space
between words).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from rag.records import STATE, WHITE_HOUSE

_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>|~\"'$&])")
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")
_MD_LINK = re.compile(r"!?\[([^\]\n]*)\]\((?:https?://|/)[^)\s]*\)")
_MD_EMPH = re.compile(r"(?<![\w*])(\*{1,3})(?=\S)(.+?)(?<=\S)\1(?![\w*])", re.S)
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}(?:\s+|$)", re.M)


_SPACE_MAP = [(chr(c), " ") for c in [0x00a0, *range(0x2000, 0x200b), 0x202f, 0x205f, 0x3000, 0x09, 0x0c, 0x0b]] + [
    (chr(c), "") for c in [0x200b, 0x200c, 0x200d, 0x2060, 0xfeff, 0x00ad]]


TIME_PREFIX = re.compile(r"^\s*(\d{1,2}:\d{2}\s*[AP]\.?\s?M\.?\s*[A-Z]{2,5})\s+(?=\S)")


def normalise_spaces(text: str) -> str:
    """Non-breaking and exotic spaces -> ' ', invisible characters removed (runs of spaces kept)."""
    for old, new in _SPACE_MAP:  # str.replace per character: much faster than translate() on long texts
        if old in text:
            text = text.replace(old, new)
    return text


def unmarkdown(text: str) -> str:
    """Undo the markdown the corpus uses: escapes, inline HTML (<s>, <u>, <sup>...), links, emphasis, '#'."""
    if "<" in text:
        text = _TAG.sub("", _AUTOLINK.sub(r"\1", text))
    if "](" in text:
        text = _MD_LINK.sub(r"\1", text)
    if "#" in text:
        text = _MD_HEADING.sub("", text)
    if "*" in text:
        text = _MD_EMPH.sub(r"\2", text)
    return _MD_ESCAPE.sub(r"\1", text) if "\\" in text else text


def join_words(text: str) -> str:
    return " ".join(text.split())


@dataclass
class Paragraph:
    head: str   # first line, spaces normalised, markdown undone, runs of spaces kept, stripped on the right
    text: str   # whole paragraph, one line, single spaces


# ---- site chrome (saved state.gov / whitehouse.gov pages) ----

_STATE_HEADER = re.compile(r"^An official website of the United States Government", re.I)
_STATE_HEADER_END = re.compile(r"secure websites\.?$", re.I)
_FOOTERS = {  # paragraph that starts a page footer -> publisher it reveals
    "u.s. department of state": STATE,
    "stay connected": WHITE_HOUSE,
}
_CHROME = re.compile(
    r"^(?:Scroll to Top(?: Scroll to Top)*|Sign Up|Stay Connected|Here['’]s how you know"
    r"|An official website of the United States Government(?: Here['’]s how you know)?"
    r"|Official websites use \.gov|Secure \.gov websites use HTTPS"
    r"|A \.gov website belongs to an official government organization in the United States\."
    r"|A lock \( ?\) or https:// means you['’]ve safely connected to the \.gov website\..*"
    r"|We['’]ll be in touch with the latest information on how President \w+ .*"
    r"|Opt in to send and receive text messages from (?:President|Vice President) .*"
    r"|#+|\\?# ?\\?# ?\\?#|[_\-=*]{5,}|FOR IMMEDIATE RELEASE)$", re.I)
# a press-release letterhead at the very top: "THE WHITE HOUSE / Office of Communications / ____"
_LETTERHEAD = re.compile(r"^(?:THE WHITE HOUSE|Office of (?:Communications|the (?:Press Secretary|Vice President|First Lady)))$")
FOOTER_WINDOW = 15  # a footer marker only counts among the last paragraphs


def strip_chrome(paras: list[Paragraph]) -> tuple[list[Paragraph], Optional[str]]:
    """Remove site header/footer boilerplate; return the paragraphs left and the site it reveals."""
    site = None
    if paras and _STATE_HEADER.match(paras[0].text):
        site = STATE
        end = next((i for i, p in enumerate(paras[:10]) if _STATE_HEADER_END.search(p.text)), 0)
        paras = paras[end + 1:]
    for i in range(max(0, len(paras) - FOOTER_WINDOW), len(paras)):
        key = paras[i].text.lower().rstrip(".")
        if key in _FOOTERS:
            site = site or _FOOTERS[key]
            paras = paras[:i]
            break
    while paras and _LETTERHEAD.match(paras[0].text):
        site = site or WHITE_HOUSE
        paras = paras[1:]
    return [p for p in paras if not _CHROME.match(p.text)], site
