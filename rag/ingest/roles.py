"""Speaker roles: what a label says by itself, and what the document says about bare names.
Takes speaker labels, a title and a kind; gives each turn's role (official, questioner, moderator ...).

official / questioner / moderator / operator / other; "unattributed" (no label) is set by rag.ingest.turns.
A label with an office ("SECRETARY BLINKEN", "SENIOR ADMINISTRATION OFFICIAL", "THE PRESIDENT") is an
official; "QUESTION"/"Q" a questioner; "AUDIENCE MEMBER", "AIDE", "CHILD" other. A bare name
("MR. SORKIN", "MS. PSAKI") depends on the document: see `resolve_roles`.
"""
from __future__ import annotations

import re
from typing import Optional

from rag.records import MODERATOR, OFFICIAL, OPERATOR, OTHER, QUESTIONER, Turn

QUESTIONER_LABELS = {"Q", "QUESTION", "QUESTIONS", "QUESTIONER", "REPORTER", "REPORTERS", "JOURNALIST", "PRESS",
                     "THE PRESS", "MEMBER OF THE PRESS", "PRESS MEMBER", "PHOTOJOURNALIST", "PRESS POOL"}
_OTHER_WORDS = re.compile(
    r"\b(?:A(?:UD|DU|UI)\w*|PARTIC\w*|AIDE|CHILD(?:REN)?|STUDENTS?|CROWD|WOMAN|MAN|CUSTOMER|PROTEST[OE]RS?|"
    r"INTERPRETER|TRANSLATOR|ANNOUNCER|UNIDENTIFIED|CREW|MEMBERS?|ATTENDEES?|VOICES?|NARRATOR|VIDEO|"
    r"COACH|REVEREND|RABBI|BISHOP|FATHER|CHAPLAIN|PASTOR|IMAM|PLAYERS?|HOST)\b")
_OFFICE_WORDS = re.compile(
    r"\b(?:PRESIDENT|PRESIDEN|SECRETARY(?:-GENERAL)?|OFFICIALS?|SPOKES\w*|AMBASSADOR|ADMINISTRATOR|DIRECTOR(?:-GENERAL)?|"
    r"CHAIR\w*|GOVERNOR|SENATOR|REPRESENTATIVE|CONGRESS\w*|MAYOR|MINISTER|CHANCELLOR|LEADER|SPEAKER|ADMIRAL|"
    r"GENERAL|COLONEL|MAJOR|LIEUTENANT|COMMANDER|COMMISSIONER|JUDGE|JUSTICE|ADVISOR|ADVISER|DEPUTY|ATTORNEY|"
    r"SURGEON|KING|QUEEN|PRINCE|PRINCESS|EMIR|SHEIKH|SULTAN|TAOISEACH|PREMIER|LADY|GENTLEMAN|COORDINATOR|ENVOY|"
    r"COUNSELOR|CHIEF|MANAGER|ADMINISTRATION|STAFF|ASSISTANT|TREASURER|CONGRESSMAN|DELEGATE|COUNCIL\w*)\b")
BRIEFING_KINDS = ("press briefing", "background call", "gaggle")


def label_role(label: str) -> Optional[str]:
    """Role a label implies by itself; None for a bare name ("MR. SORKIN", "PSAKI"), decided per document."""
    if label in QUESTIONER_LABELS or label.startswith("QUESTION"):
        return QUESTIONER
    words = label.split()
    if len(words) == 1 and re.match(r"^MO\w*R\w*O?R$", label):
        return MODERATOR
    if len(words) == 1 and label.startswith("OPER"):
        return OPERATOR
    if _OTHER_WORDS.search(label):
        return OTHER
    if _OFFICE_WORDS.search(label) or words[0] == "THE":
        return OFFICIAL
    return None


_TITLE_OFFICES = r"(?:%s|APNSA|NSA|NSC|NEC|OMB|CEA|DPC|USTR|EPA|FEMA|CDC|HHS|DHS|DOD|OSTP)" % _OFFICE_WORDS.pattern
_NAME_GAP = r"(?:[\w.’'\-]+ ){0,4}?"  # up to four words (first names, "for Strategic Communications")
_GUEST_GAP = r"(?:[\w.’'\-]+ ){0,6}?"  # "with Maria Teresa Kumar and Jay Ellis"
_NOT_GAP = re.compile(r"\b(?:AND|WITH|BY|IN|AT|ON|TO|OF THE)\b")
_INTERVIEW_TITLE = re.compile(r"\b(?:INTERVIEW|CONVERSATION|TOWN HALL|CHAT|PODCAST|MODERATED|DISCUSSION)\b")


def _title_role(surname: str, title: str) -> Optional[str]:
    """Role the document title gives a surname: "... Town Hall with Anderson Cooper" -> questioner,
    "Press Secretary Jen Psaki" / "APNSA Jake Sullivan" -> official."""
    name = re.escape(surname)
    for m in re.finditer(r"%s (%s)%s\b" % (_TITLE_OFFICES, _NAME_GAP, name), title):
        if not _NOT_GAP.search(m.group(1)):
            return OFFICIAL
    if re.search(r"%s.*\b(?:WITH|HOSTED BY|MODERATED BY) %s%s\b" % (_INTERVIEW_TITLE.pattern, _GUEST_GAP, name), title) \
            or re.search(r"\bINTERVIEW OF .* BY %s%s\b" % (_NAME_GAP, name), title):
        return QUESTIONER
    return None


def resolve_roles(turns: list[Turn], title: str, kind: str) -> None:
    """Give bare-name speakers ("MR. SORKIN", "MS. PSAKI") a role from the document:
    the title names them as host/interviewer ("Town Hall with Anderson Cooper") or most of their turns
    are questions -> questioner; the title gives their office ("Press Secretary Jen Psaki") or they speak
    in a press briefing / background call / gaggle -> official; otherwise -> other (a guest whose office
    we cannot tell)."""
    names = {t.speaker for t in turns if t.speaker and not t.role}
    upper_title = " ".join(title.upper().split())
    roles = {}
    for name in names:
        own = [t for t in turns if t.speaker == name]
        asks = sum(1 for t in own if t.text.rstrip(" )”\"'").endswith("?"))
        role = _title_role(name.split()[-1].strip("."), upper_title)
        if role is None and len(own) >= 3 and asks * 2 >= len(own):
            role = QUESTIONER
        if role is None:
            role = OFFICIAL if kind in BRIEFING_KINDS else OTHER
        roles[name] = role
    for t in turns:
        if t.speaker in roles and not t.role:
            t.role = roles[t.speaker]
