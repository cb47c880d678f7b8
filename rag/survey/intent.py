"""Which questions are surveys, and follow-ups that narrow the last one.
Takes a chat message (and the last survey's request); gives a `SurveyRequest` (topic + filters), or None for a pointed question.

A survey question asks what a group said over the archive, or who spoke:
    "What did officials say about Syria aid?"          "How has the White House described the withdrawal?"
    "What has the administration said about X?"       "Who talked about student loans?"
    "What has Kirby said about X?"   (a named speaker, over time: a survey of that speaker)
    "survey: X" / "timeline of X"                    (asked for by name)
A pointed question stays an answer: "What did Kirby say about the Houthis on May 3?", "When is the vote?".

A follow-up narrows the last survey when it is short and only adds a period or a speaker:
    "and in 2023?"  "only Kirby"  "just Psaki in 2022"  "what about Jean-Pierre?"  "since March 2022"
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Optional

from rag.retrieval.dates import question_period

# collective subjects only: "what did the President say" or "what did they say" stays a pointed question
GROUPS = (r"(?:the\s+)?(?:u\.?s\.?\s+)?(?:officials?|administration(?:\s+officials)?|white\s+house(?:\s+officials)?|"
          r"state\s+department(?:\s+officials)?|government|(?:biden|trump|obama|harris)\s+administration)")
_SAY = r"(?:say|said|talk(?:ed)?\s+about|speak|spoke(?:n)?\s+about|describe[ds]?|described|characteri[sz]e[ds]?|discuss(?:ed)?|comment(?:ed)?\s+on|frame[ds]?|address(?:ed)?)"
_PATTERNS = [
    # what did officials say about X / how has the White House described X
    re.compile(rf"^\s*(?:what|how)\s+(?:did|do|does|have|has)\s+{GROUPS}\s+{_SAY}\s+(?:about\s+|on\s+)?(?P<topic>.+)$", re.I),
    # what has been said about X
    re.compile(r"^\s*what\s+(?:has|have)\s+been\s+said\s+(?:about|on)\s+(?P<topic>.+)$", re.I),
    # who talked about X / who said anything about X
    re.compile(rf"^\s*who\s+(?:has\s+|have\s+)?{_SAY}\s+(?:anything\s+)?(?:about\s+|on\s+)?(?P<topic>.+)$", re.I),
    # survey: X / timeline of X / everything officials said about X
    re.compile(r"^\s*(?:survey\s*:?|timeline\s+(?:of|for)|everything\s+(?:\w+\s+){0,3}said\s+about)\s+(?P<topic>.+)$", re.I),
]
# what has Kirby said about X: one named speaker, over time
_NAMED = re.compile(rf"^\s*(?i:what|how)\s+(?i:has|have)\s+(?P<speaker>[A-Z][\w.'’\-]*(?:\s+[A-Z][\w.'’\-]*){{0,3}})\s+"
                    rf"(?i:{_SAY})\s+(?i:about\s+|on\s+)?(?P<topic>.+)$")
_FOLLOW = re.compile(r"^\s*(?:and|but|now|ok(?:ay)?|what\s+about|how\s+about|only|just|in|since|before|after|from|"
                     r"until|during)\b", re.I)
_SPEAKER = re.compile(r"\b(?:only|just|what\s+about|how\s+about|and|by)\s+(?P<name>[A-Z][\w.'’\-]+(?:\s+[A-Z][\w.'’\-]+)?)")
_SINCE = re.compile(r"\b(?:since|after|from)\b", re.I)
_UNTIL = re.compile(r"\b(?:before|until|through|till)\b", re.I)
MAX_FOLLOW_WORDS = 8
_NOT_NAMES = {"In", "Since", "Before", "After", "From", "Until", "During", "And", "Only", "Just", "What", "How",
              "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December", "The", "Now", "But", "Ok", "Okay", "Officials"}


@dataclass
class SurveyRequest:
    topic: str
    speaker: Optional[str] = None
    date_from: Optional[str] = None
    date_to: Optional[str] = None

    def filters(self) -> dict:
        return {k: v for k, v in (("speaker", self.speaker), ("date_from", self.date_from),
                                  ("date_to", self.date_to)) if v}


def _clean(topic: str) -> str:
    topic = re.sub(r"[?.!\s]+$", "", topic.strip())
    return re.sub(r"\s+(?:over\s+(?:time|the\s+years)|so\s+far|lately|recently)$", "", topic, flags=re.I).strip()


def survey_request(question: str) -> Optional[SurveyRequest]:
    """The survey a question asks for, or None when it is a pointed question."""
    q = (question or "").strip()
    m = _NAMED.match(q)
    if m and not re.fullmatch(GROUPS, m["speaker"], re.I):
        return _dated(SurveyRequest(_clean(m["topic"]), speaker=m["speaker"].strip()))
    for rx in _PATTERNS:
        m = rx.match(q)
        if m and _clean(m["topic"]):
            return _dated(SurveyRequest(_clean(m["topic"])))
    return None


def _dated(req: SurveyRequest) -> SurveyRequest:
    """A period written in the topic ("X in 2023") becomes a date filter, and leaves the topic."""
    period = question_period(req.topic, widen=False)
    if not period:
        return req
    topic = re.sub(r"\s+(?:in|during|since|from|before|after|until)\s+.*$", "", req.topic, flags=re.I).strip()
    return _with_period(replace(req, topic=topic or req.topic), req.topic, period)


def _with_period(req: SurveyRequest, text: str, period: tuple[str, str]) -> SurveyRequest:
    first, last = period
    if _SINCE.search(text):
        return replace(req, date_from=first, date_to=None)
    if _UNTIL.search(text):
        return replace(req, date_from=None, date_to=first)
    return replace(req, date_from=first, date_to=last)


def narrowed(message: str, last: SurveyRequest) -> Optional[SurveyRequest]:
    """`last` narrowed by a short follow-up ("and in 2023?", "only Kirby"), or None when it is not one."""
    text = (message or "").strip()
    if not text or len(text.split()) > MAX_FOLLOW_WORDS or not _FOLLOW.match(text) or survey_request(text):
        return None
    out, changed = last, False
    period = question_period(text, widen=False)
    if period:
        out, changed = _with_period(out, text, period), True
    for m in _SPEAKER.finditer(text):
        name = m["name"].strip()
        if name.split()[0] not in _NOT_NAMES and not re.match(r"\d", name):
            out, changed = replace(out, speaker=name), True
            break
    return out if changed else None
