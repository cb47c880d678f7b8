"""Speaker turns: label detection, roles, time/place lines.
Takes a document body; gives its paragraphs and the labelled `Turn`s with time and place lines.

A turn starts at a paragraph that begins with a speaker label:
  "QUESTION:  ...", "Q    ..." (no colon), "SECRETARY BLINKEN:  ...", "MR. KIRBY: ...",
  "SENIOR STATE DEPARTMENT OFFICIAL ONE:  ...", "     MODERATOR:  ..." (indented).
False positives avoided: a label must start a paragraph, be in capitals, hold no bare
numbers ("END 8:32", "H.R. 3537:"), and a one-word label that is neither a known role nor
a surname-style label followed by two spaces ("NATO: another war", "COVID:") is prose.
Text before the first label is one turn with speaker None (role "unattributed").
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from rag import lexicon
from rag.records import UNATTRIBUTED, Turn
from rag.ingest.roles import label_role
from rag.ingest.cleanup import TIME_PREFIX, Paragraph, join_words, normalise_spaces, strip_chrome, unmarkdown

# "LABEL:" at the start of a line; LABEL = capitalised words (MR., O’CONNELL, SECRETARY-GENERAL, (AS INTERPRETED)).
_LABEL = re.compile(
    r"^\s*(?P<label>[^\W\d_][\w.'’\-]*(?: +[\w(][\w.'’\-)]*){0,8})\s?:(?P<gap>\s*)(?P<rest>.*)$")
# "Q    text", "Q: text", "Q — text"
_Q = re.compile(r"^\s*Q(?:\s*[:`]|(?=\s+\S)|\s*(?=[—–])|(?=(?:And|Does|Can|Thank|Thanks|What|How|Is|Are|Why|When|"
                r"Where|Will|Would|Did|Do|So|Just|Yeah|Yes|Okay|But|On|The|Hi|Hey)\b))\s*(?P<rest>.*)$")
_HONORIFIC_TYPO = re.compile(r"^(\s*)Q?(MR|MS|MRS|DR|Mr|Ms|Mrs|Dr)[:;,.] *(?=[A-Z][A-Z’'\-]+(?: [A-Z][A-Z’'\-]+)?:)")
_STRAY_Q = re.compile(r"^(\s*)Q\s+(?=(?:MR|MS|MRS|DR)\.? [A-Z][A-Z’'\-]+:)")
_PERIOD_LABEL = re.compile(r"^(\s*)(MR|MS|MRS|DR)\. ([A-Z][A-Z’'\-]{2,})\.(?=\s+[A-Z])")
_DASH_LABEL = re.compile(r"^(\s*)(MR|MS|MRS|DR)\. (?!PRESIDENT|SPEAKER|SECRETARY|VICE)([A-Z][A-Z’'\-]{2,})(?= [—–] )")
_Q_INSIDE = re.compile(r"^Q\s+[A-Z]")
_NUMBER_WORD = re.compile(r"^\d[\d.,]*$")
_TIME = re.compile(
    r"^(?:END\s*)?\(?\d{1,2}:\d{2}\s*(?:[AP]\.?\s?M\.?)\s*(?:[A-Z]{1,5}T|[A-Z]{2,4}|local(?: time)?)?\.?\)?$", re.I)
_END = re.compile(r"^END\.?$", re.I)
# label honorifics, with and without the period, and the cut ones of typos ("M. KIRBY", "S. PSAKI")
HONORIFICS = {h.upper() + dot for h in lexicon.HONORIFICS for dot in ("", ".")} | {"MISS", "M.", "S."}

def _fix_typos(line: str) -> str:
    """Label typos in the sources: "MR: ZIENTS:", "Mr. KIRBY:", "QMS. PSAKI:", "MR. SULLIVAN. Yeah",
    "Q    MR. KIRBY:  So", "MR. SULLIVAN — that —" -> "MR. ZIENTS:", "MR. KIRBY:", "MS. PSAKI:",
    "MR. SULLIVAN: Yeah", "MR. KIRBY:  So", "MR. SULLIVAN:  — that —"."""
    line = _STRAY_Q.sub(r"\1", line)
    line = _PERIOD_LABEL.sub(r"\1\2. \3:", line)
    line = _DASH_LABEL.sub(r"\1\2. \3: ", line)
    return _HONORIFIC_TYPO.sub(lambda m: f"{m[1]}{m[2].upper()}. ", line)


def _parse_label(line: str) -> Optional[tuple[str, str, bool]]:
    """(label, rest of line, strong) when `line` opens with a speaker label, else None."""
    if not line.lstrip()[:1].isupper():
        return None
    line = _fix_typos(line)
    m = _Q.match(line)
    if m:
        return "Q", m.group("rest"), True
    m = _LABEL.match(line)
    if not m:
        return None
    label = " ".join(m.group("label").split())
    if label.replace("Mc", "MC") != label.upper() or len(label) > 60:
        return None
    words = label.split()
    if any(_NUMBER_WORD.match(w) for w in words) or sum(c.isalpha() for c in label) < 2:
        return None
    rest, gap = m.group("rest").strip(), m.group("gap")
    role = label_role(label)
    honorific = words[0] in HONORIFICS and len(words) > 1
    one_word = len(words) == 1
    strong = role is not None or honorific
    if one_word and role is None and len(gap) < 2:
        return None  # "NATO: another war", "FEMA: 33 grants", "COVID:" - prose, not a speaker
    if not rest and not strong:
        return None
    if "." in label and not honorific and one_word:
        return None  # "D.C.:"
    return label, rest, strong or len(gap) >= 2


def _strip_label(text: str) -> str:
    """A paragraph's text without its leading speaker label."""
    text = _fix_typos(text)
    m = _Q.match(text) or _LABEL.match(text)
    return m.group("rest").strip() if m else text


def starts_turn(line: str, strict: bool = False) -> bool:
    """Does this line open a speaker turn? `strict`: only unmistakable labels (used inside paragraphs)."""
    parsed = _parse_label(line)
    return parsed is not None and (parsed[2] or not strict)


def is_time_line(text: str) -> bool:
    return bool(_TIME.match(text.strip()))


def paragraphs(body: str, markdown: bool) -> list[Paragraph]:
    """Split on blank (or whitespace-only) lines; join the hard-wrapped lines of each paragraph.

    A line inside a paragraph that starts with an unmistakable speaker label (see
    `starts_turn`) starts a new paragraph, so a missing blank line cannot glue
    two speakers' words together.
    """
    body = normalise_spaces(body)
    if markdown:
        body = unmarkdown(body)
    out: list[Paragraph] = []
    block: list[str] = []

    def flush():
        if block:
            text = join_words(" ".join(block))
            if text:
                out.append(Paragraph(head=block[0].rstrip(), text=text))
            block.clear()

    for line in body.split("\n"):
        m = TIME_PREFIX.match(line)
        if m and starts_turn(line[m.end():], strict=True):  # "5:19 P.M. EDT MODERATOR:  Thanks..."
            flush()
            block.append(m.group(1))
            flush()
            line = line[m.end():]
        if not line.strip():
            flush()
        elif is_time_line(line):  # "2:59 P.M. EDT" glued to a place line or a speaker's first line
            flush()
            block.append(line)
            flush()
        elif block and starts_turn(line, strict=True):
            flush()
            block.append(line)
        else:
            block.append(line)
    flush()
    return out



@dataclass
class Parsed:
    turns: list[Turn] = field(default_factory=list)
    time: Optional[str] = None
    place: Optional[str] = None
    site: Optional[str] = None      # publisher revealed by site chrome
    labelled: int = 0               # number of turns with a speaker label


_SENTENCE_END = re.compile(r"(?:[a-z0-9’'”\"]{2}[.?!;,]|[.?!]”)$")
_GREETING = re.compile(r"^(?:Good|Hello|Hi|Hey|Thank|Thanks|Welcome|Well|Wow|Okay|OK|Please|Ladies|Folks|Everybody|"
                       r"Everyone|All right|Alright|Yes|No|So|Now|And|But|Oh|Ah|Wait|Dear|My)\b")
_DATE_LINE = re.compile(r"^\(?[A-Z][a-z]+\.? \d{1,2}, \d{4}\)?$")


def _heading_like(text: str) -> bool:
    """A short line that is not a sentence: "Via Teleconference", "Palm Beach, Florida", "Washington, D.C."."""
    if text.upper() == text and len(text) <= 300:
        return True  # a repeated all-caps title
    return len(text) <= 100 and len(text.split()) <= 14 and not _SENTENCE_END.search(text) \
        and _parse_label(text) is None


def _place(lines: list[str]) -> Optional[str]:
    """Place from heading lines, leaving out a repeated all-caps title and date lines."""
    keep = [" ".join(x.replace("*", "").split()) for x in lines
            if not _DATE_LINE.match(x) and not (x.upper() == x and len(x) > 25)]
    return ", ".join(k for k in keep if k) or None


def parse(body: str, markdown: bool = False) -> Parsed:
    """Body text (front matter / markup already removed) -> turns and time/place metadata."""
    paras, site = strip_chrome(paragraphs(body, markdown))
    out = Parsed(site=site)
    blocks: list[tuple[Optional[str], list[str]]] = []  # (label, paragraphs)
    before_time = None  # number of unattributed paragraphs above the opening time line
    for p in paras:
        if is_time_line(p.text) or _END.match(p.text):
            # the first time line before any speaker is metadata; later ones ("END 3:36 P.M.") are dropped
            if out.time is None and not _END.match(p.text) and all(b[0] is None for b in blocks):
                out.time = re.sub(r"^END\s*", "", p.text, flags=re.I)
                before_time = len(blocks[0][1]) if blocks else 0
            continue
        parsed = _parse_label(p.head)
        if parsed:
            label, text = parsed[0], _strip_label(p.text)
            if label != "Q" and _Q_INSIDE.match(text):  # "MS. JEAN-PIERRE:  Q But I also wanted to ask you —"
                label, text = "Q", text[1:].strip()      # (a transcript typo): the words are the reporter's
            blocks.append((label, [text] if text else []))
        elif blocks:
            blocks[-1][1].append(p.text)
        else:
            blocks.append((None, [p.text]))
    # heading lines above the time line (or above the first speaker) are the place, not anybody's words
    if blocks and blocks[0][0] is None:
        pre = blocks[0][1]
        if before_time is not None:
            n = before_time
        elif len(blocks) > 1:
            n = len(pre)
        else:  # nobody labelled (a speech as prepared, a statement): leading heading lines only
            n = next((i for i, x in enumerate(pre[:3]) if not _heading_like(x) or _GREETING.match(x)), 0)
        if n and all(_heading_like(x) for x in pre[:n]):
            out.place = _place(pre[:n])
            blocks[0] = (None, pre[n:])
    position = 0
    for label, texts in blocks:
        texts = [t for t in texts if t]
        if not texts:
            continue
        out.turns.append(Turn(position=position, speaker=label, text="\n\n".join(texts),
                              role=UNATTRIBUTED if label is None else (label_role(label) or "")))
        position += 1
    out.labelled = sum(1 for t in out.turns if t.speaker is not None)
    return out
