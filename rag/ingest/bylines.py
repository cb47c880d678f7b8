"""The speaker a title names, for a published text in which nobody is labelled.
Takes a document title; gives a speaker label in the archive's style ("NATIONAL SECURITY ADVISOR JAKE
SULLIVAN", "PRESIDENT BIDEN", "THE PRESIDENT"), or None.

Speeches "as prepared for delivery" and written statements carry no "NAME:" label: the title says who
speaks ("Remarks as Prepared for Delivery by First Lady Jill Biden at ...", "Statement by President Biden
on ...", "Excerpts from President Biden's State of the Union Address"). Without this their words would
be cited with no speaker, and a speaker filter or a survey's count by speaker would miss them (294 of the
3,794 CC0 briefings have no label; most are such speeches).

Only a title that opens as a byline counts ("Remarks", "Statement", "Excerpts", "Address", "Speech",
with "by"/"of"/"from"/"for"). A readout, a fact sheet, a press release ("President Biden Announces ...")
or a joint statement names people whose words the text is not, and gets None; so does a title naming two
speakers ("Remarks by President Biden and Prime Minister Kishida").
"""
from __future__ import annotations

import re
from typing import Optional

from rag import lexicon

# Words of an office as titles spell it: "National Security Advisor", "NEC Director", "Press Secretary".
_OFFICE = {
    "president", "vice", "first", "lady", "gentleman", "second", "secretary", "press", "deputy", "principal",
    "assistant", "senior", "special", "advisor", "adviser", "director", "chair", "chairman", "chairwoman",
    "national", "economic", "security", "homeland", "climate", "domestic", "policy", "council", "competition",
    "white", "house", "chief", "staff", "spokesperson", "spokesman", "spokeswoman", "communications",
    "strategic", "coordinator", "envoy", "ambassador", "administrator", "counselor", "counsel", "cabinet",
    "attorney", "general", "surgeon", "commissioner", "governor", "senator", "representative", "mayor",
    "u.s.", "us", "nsc", "nec", "apnsa", "nsa", "cea", "omb", "ostp", "usaid", "fema", "cdc", "hhs", "dhs",
    "affairs", "international", "science", "technology", "infrastructure", "implementation", "cyber",
    "emerging", "energy", "gender", "public", "engagement", "intergovernmental", "legislative", "management",
    "budget", "office", "member", "members", "executive", "acting", "interim",
}
_HONORIFIC = {h + dot for h in lexicon.HONORIFICS for dot in ("", ".")}
# Words an office may hold between its capitalised words: "Assistant to the President for Homeland Security".
_OFFICE_JOINS = {"to", "the", "for", "of", "and"}
_OPENING = re.compile(
    r"^(?:(?:excerpts?|an? excerpt) (?:of|from) )?(?:(?:pre-taped|pre-recorded|closing|opening|keynote|video|"
    r"virtual|prepared) )?(?:remarks|statement|address|speech)\b(?: (?:as )?(?:prepared|delivered)(?: for delivery)?)?"
    r" (?:by|of|from|for) (?P<rest>.+)$", re.I)
_LATE_BY = re.compile(r"^(?:(?:pre-taped|closing|opening|keynote) )?(?:remarks|address|speech) .*? by (?P<rest>.+)$", re.I)
_POSSESSIVE = re.compile(r"^(?:excerpts?|an? excerpt) (?:of|from) (?P<rest>.+?)(?:[’']s)? (?:remarks|speech|address|state of "
                         r"the union)\b", re.I)
_NOT_A_BYLINE = re.compile(r"\b(?:joint statement|readout|fact sheet)\b", re.I)
_WORD = re.compile(r"[\w.’'\-]+|[,:|—–]")


def title_speaker(title: Optional[str]) -> Optional[str]:
    """The one speaker `title` names as the author of the text, as a capitalised label; None when the
    title is not a byline or names no single speaker."""
    if not title:
        return None
    title = " ".join(title.replace("\u2060", "").split())
    if _NOT_A_BYLINE.search(title):
        return None
    m = _POSSESSIVE.match(title)
    if m:
        return _speaker(m.group("rest") + " .")
    m = _OPENING.match(title) or _LATE_BY.match(title)
    return _speaker(m.group("rest")) if m else None


def _capitalised(word: str) -> bool:
    return word[:1].isupper()


def _speaker(rest: str) -> Optional[str]:
    """The office and name that open `rest` ("National Security Advisor Jake Sullivan at ..."), as a label."""
    words = _WORD.findall(rest)
    office: list[str] = []  # the office as written right before the name ("Senior Advisor to the President")
    name: list[str] = []
    honorific: list[str] = []
    i = 0
    while i < len(words):
        w, low = words[i], words[i].casefold()
        if low in _HONORIFIC and i + 1 < len(words) and _capitalised(words[i + 1]):
            honorific = [w if w.endswith(".") else w + "."]
        elif low in _OFFICE and (_capitalised(w) or low == "u.s.") and not honorific:
            office.append(w)
        elif low in _OFFICE_JOINS and not honorific:
            if low == "and" and not office:
                return None
            office.append(low)
        elif w == "," and not honorific:
            office = []  # "Assistant to the President for Homeland Security, Dr. Liz Sherwood-Randall"
        elif _capitalised(w) and w[0].isalpha():
            name.append(_unpossessive(w))
            nxt = words[i + 1] if i + 1 < len(words) else ""
            if re.fullmatch(r"[A-Z]\.", nxt) and i + 2 < len(words):  # a middle initial: "Joseph R. Biden"
                name.append(nxt)
                i += 1
                nxt = words[i + 1] if i + 1 < len(words) else ""
            if _unpossessive(w) == w and _capitalised(nxt) and nxt[0].isalpha() \
                    and nxt.casefold() not in _OFFICE_JOINS:
                name.append(_unpossessive(nxt))
                i += 1
            break
        else:
            break
        i += 1
    after = words[i + 1:i + 3] if name else []
    if [a.casefold() for a in after[:1]] == ["and"] and len(after) > 1 and _capitalised(after[1]):
        return None  # two speakers
    while office and office[-1] in _OFFICE_JOINS:  # "... Chair and" before a name is no office
        office.pop()
    if not name:
        # "Remarks by the President at ...": the office alone, as the archive labels it
        return " ".join(office).upper() if len(office) > 1 and office[0] == "the" and not honorific else None
    if office and office[0] == "the":
        office = office[1:]
    return " ".join(office + honorific + name).upper()


def _unpossessive(word: str) -> str:
    return word[:-2] if word.endswith(("’s", "'s")) else word

