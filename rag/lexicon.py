"""Words, stems, stop words, names, numbers, sentences and [n] citation markers: one of each.
Takes plain text; gives word lists, crude stems, sentence spans and citation numbers to every stage.

Two sentence splitters, on purpose: `sentence_spans` (a fast regex; the chunker's, so it defines chunk
ids: changing it changes every index) and `split_sentences` (pysbd; for reading answers and passages
sentence by sentence). Citations: `CITATION` is the strict `[n]` / `[n, m]` / `[n-m]` form this
product writes; `parse_citations` also reads the looser forms a model writes ("(2)", "[passage 1]").
"""
from __future__ import annotations

import calendar
import re
from typing import Optional

import pysbd

STOP = set("""a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing done down during each either else even ever every few for
from further had has have having he her here hers herself him himself his how however i if in into is it its
itself just least less like made make many may me might more most much must my myself no nor not now of off on
once one only or other others our ours ourselves out over own per quite rather really same shall she should since
so some such than that the their theirs them themselves then there these they this those though through thus to
too under until up upon us very via was we were what when where whether which while who whom whose why will with
within without would yet you your yours yourself also well still already going get got let lot way things thing
think know see say says said saying told tell tells noted added stated explained according regarding re""".split())
# the honorifics written before a surname ("Mr. Navalny", "MS. PSAKI:"), lower case without their period: speaker
# labels (rag.ingest.turns), bylines (rag.ingest.bylines) and a survey's person names (rag.survey.find) read them
HONORIFICS = ("mr", "mrs", "ms", "dr")
# words a question or a framing sentence uses that say nothing about the content
GENERIC = set("""official officials senior administration briefing briefings call press question questions answer
answers passage passages speaker speakers secretary spokesperson spokesman government statement statements
remarks mentioned discussed discuss discussing described describe talked talk talking spoke speak commented
comment emphasized emphasised stressed highlighted addressed address""".split())
WORD = re.compile(r"[A-Za-z][A-Za-z'’\-.]*[A-Za-z]|[A-Za-z]")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_QUOTE_END = re.compile(r"(?<=[.!?][”\"’])\s+(?=[“\"A-Z])")

_SEGMENTER = None


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the sentences of `text`, stripped; text[start:end] is verbatim."""
    global _SEGMENTER
    if _SEGMENTER is None:
        _SEGMENTER = pysbd.Segmenter(language="en", clean=False, char_span=True)
    spans = []
    for para in re.finditer(r"[^\n]+", text):
        base = para.start()
        for seg in _SEGMENTER.segment(para.group()):
            s, e = seg.start, seg.end
            # pysbd keeps `... virus.”  Next sentence` together: split after a closing quote
            cuts = [s] + [s + m.end() for m in _QUOTE_END.finditer(para.group()[s:e])] + [e]
            for a, b in zip(cuts, cuts[1:]):
                piece = para.group()[a:b]
                lead = len(piece) - len(piece.lstrip())
                trail = len(piece.rstrip())
                if trail > lead:
                    spans.append((base + a + lead, base + a + trail))
    return spans


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]



# ---- words --------------------------------------------------------------------
def norm_word(w: str) -> str:
    w = w.lower().replace("’", "'").strip(".'-")
    return w[:-2] if w.endswith("'s") else w


def stem(w: str) -> str:
    """Crude stem: 'tests', 'testing' -> 'test'; 'missiles', 'missile' -> 'missi'."""
    if len(w) > 4:
        w = re.sub(r"(?:ing|ed|es|s)$", "", w)
    return w[:5]


def norm_label(label: Optional[str]) -> str:
    """A speaker label, publisher or kind as filters and office lookups compare it: "THE PRESIDENT" and "The
    President:" are both "the president"."""
    return " ".join(re.sub(r"[^\w]+", " ", (label or "").casefold()).split())


def words(text: str) -> list[str]:
    return [norm_word(w) for w in WORD.findall(text)]


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if len(w) > 2 and w not in STOP and w not in GENERIC]


def content_stems(text: str) -> set[str]:
    """The stems of `text`'s content words: what a claim, a question or a passage sentence is about."""
    return {stem(w) for w in content_words(text)}


MONTH_NAMES = tuple(m.lower() for m in calendar.month_name[1:])   # "january" ... "december"


def numbers(text: str) -> set[str]:
    return {n.replace(",", "").rstrip(".") for n in _NUMBER.findall(text)}


# cardinal words and their values ("twenty" -> 20): one table for single words (`_SPELLED`) and for numbers spelled
# in several words (`_spelled_values`)
_CARDINALS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                                         "fourteen fifteen sixteen seventeen eighteen nineteen".split())}
_CARDINALS.update({w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)})
_SPELLED = {w: str(i) for w, i in _CARDINALS.items()}
_SPELLED["dozen"] = "12"
_SPELLED.update({w: str(i) for i, w in enumerate("second third fourth fifth sixth seventh eighth ninth tenth".split(),
                                                 2)})
del _SPELLED["one"]            # "one of the", "no one": too often not a count
_MAGNITUDES = set("tens dozens hundreds thousands millions billions trillions hundred thousand million billion "
                  "trillion".split())
_UNITS = {"hour": "hour", "hours": "hour", "day": "day", "days": "day", "daily": "day", "daylong": "day",
          "week": "week", "weeks": "week", "weekly": "week", "month": "month", "months": "month",
          "monthly": "month", "year": "year", "years": "year", "yearly": "year", "annual": "year",
          "annually": "year", "decade": "decade", "decades": "decade"}


_IMPLIED = {"both": "2", "pair": "2", "couple": "2", "today": "day", "tomorrow": "day", "yesterday": "day",
            "tonight": "day", "decade": "10", "decades": "10"}


def quantities(text: str, implied: bool = False) -> set[str]:
    """The counts, sizes and spans a sentence states: its numbers (digits or spelled: "three" -> "3"), magnitude
    words ("tens of millions") and units of time ("a week or two"). A claim may state only those its source does;
    `implied` adds what a source's words imply ("both" -> "2", "tomorrow" -> "day", "10 years" -> "decade")."""
    out = numbers(text)
    prev = ""
    for w in re.findall(r"[A-Za-z]+", text.lower()):
        if w == "two" and prev in ("the", "these", "those"):   # "the two countries" points, it does not count
            pass
        elif w in _SPELLED:
            out.add(_SPELLED[w])
        elif w in _MAGNITUDES:
            out.add(w)
        elif w in _UNITS:
            out.add(_UNITS[w])
        if implied and w in _IMPLIED:   # what a source's words imply: "both" backs "the two", "tomorrow" a day
            out.add(_IMPLIED[w])
        prev = w
    if implied and "10" in out and "year" in out:
        out.add("decade")
    return out | _spelled_values(text)


_SCALE = {"thousand": 10 ** 3, "million": 10 ** 6, "billion": 10 ** 9, "trillion": 10 ** 12}


def _spelled_values(text: str) -> set[str]:
    """The values of numbers spelled in several words: "two hundred and four" -> "204" (not the same count as "a
    hundred and four", though each word of it is), "twenty-five" -> "25", "three million" and
    "3 million" -> "3000000"."""
    out: set[str] = set()
    toks = re.findall(r"[a-z]+|\d[\d,.]*", text.lower())   # digits break a run: "a $550 million" is not "a million"
    i = 0
    while i < len(toks):
        j, total, current, parts, scaled = i, 0, 0, 0, False
        while j < len(toks):
            w = toks[j]
            nxt = toks[j + 1] if j + 1 < len(toks) else ""
            if w in _CARDINALS:
                current += _CARDINALS[w]
            elif w == "a" and parts == 0 and (nxt == "hundred" or nxt in _SCALE):
                current = 1
            elif w == "hundred" and parts:
                current, scaled = max(current, 1) * 100, True
            elif w in _SCALE and parts:
                total, current, scaled = total + max(current, 1) * _SCALE[w], 0, True
            elif w == "and" and scaled and nxt in _CARDINALS:
                j += 1
                continue
            else:
                break
            parts += 1
            j += 1
        if parts >= 2 and (scaled or any(toks[k] in _CARDINALS and _CARDINALS[toks[k]] >= 20 for k in range(i, j - 1))):
            out.add(str(total + current))
        i = max(j, i + 1)
    for m in re.finditer(r"(\d+(?:\.\d+)?)\s+(thousand|million|billion|trillion)\b", text.lower()):   # "3 million"
        out.add(str(round(float(m.group(1)) * _SCALE[m.group(2)])))
    return out


def names(sentence: str) -> set[str]:
    """Capitalised words after the first word (proper names, places, organisations), normalised."""
    toks = WORD.findall(sentence)
    out = set()
    for i, t in enumerate(toks):
        if i == 0 or not t[0].isupper():
            continue
        w = norm_word(t)
        if w in STOP or w in GENERIC or len(w) < 2:
            continue
        out.add(w)
    return out



# ---- acknowledgements ------------------------------------------------------------
# Words of a turn that says nothing by itself: "Yeah.", "Thank you.", "Exactly, yeah.", "Say that one more time.",
# "Go ahead.", "Okay, great." Such a turn is never a search hit (rag.retrieval.filters.Columns.trivial).
ACKNOWLEDGEMENT_WORDS = frozenset("""yeah yes yep yup no nope okay ok sure right exactly correct absolutely indeed
great good fine cool alright thanks thank you very much so well um uh oh ah hmm mm all go ahead please next
say that one more time again sorry pardon hi hello morning afternoon evening everybody everyone guys folks
appreciate it i we let me us can could repeat what hear sir ma'am welcome got true agreed of course""".split())
ACKNOWLEDGEMENT_MAX_WORDS = 8


def is_acknowledgement(text: str) -> bool:
    """Does `text` only acknowledge, thank or ask for a repeat (nothing a reader could quote as an answer)?"""
    if len(text or "") > 160:   # eight words at most: a long text is never only an acknowledgement
        return False
    raw = WORD.findall(text or "")
    if len(raw) > ACKNOWLEDGEMENT_MAX_WORDS:
        return False
    others = [w for w in raw if norm_word(w) not in ACKNOWLEDGEMENT_WORDS]
    thanks = any(norm_word(w) in ("thank", "thanks") for w in raw)
    return not others or (thanks and len(others) <= 2 and all(w[0].isupper() for w in others))  # "Thanks, Karine."


FRAGMENT_MAX_WORDS = 12   # a turn this short and cut off mid-sentence says nothing
ASIDE_MAX_WORDS = 5       # a turn this short that answers no question says nothing ("And they did.")
HANDOVER_MAX_WORDS = 3    # "Dr. Walensky.", "— by the way —": too short to say anything, whatever was asked
_CUT_OFF = re.compile(r"[—–-]\s*[\"”’)]*\s*$")


def says_nothing_alone(text: str, answers_question: bool) -> bool:
    """Is a whole speaker turn one a reader could not quote as an answer? An acknowledgement; a hand-over of three
    words or fewer; a turn under 12 words cut off mid-sentence ("All the president is saying is that —"); or an
    aside of five words or fewer that answers no question ("And they did.", "Expensive BS.") - a short answer is
    shown only with the question that gives it its meaning. Such a turn is never a search hit (rag.retrieval.filters.Columns.trivial)."""
    if is_acknowledgement(text):
        return True
    n = len(WORD.findall(text or ""))
    if n >= FRAGMENT_MAX_WORDS:
        return False
    return n <= HANDOVER_MAX_WORDS or bool(_CUT_OFF.search(text)) or (n <= ASIDE_MAX_WORDS and not answers_question)


# ---- citation markers a model writes ------------------------------------------
_CITE = re.compile(r"\s*[\[(]\s*(?:passages?\s*|sources?\s*|#)?(\d{1,3}(?:\s*(?:,|and|&|-|–)\s*\d{1,3})*)\s*[\])]",
                   re.I)
def parse_citations(sentence: str) -> tuple[str, list[int]]:
    """The sentence without its [n] markers, and the cited numbers in order (duplicates removed)."""
    nums: list[int] = []
    for m in _CITE.finditer(sentence):
        for part in re.split(r"\s*(?:,|and|&)\s*", m.group(1)):
            rng = re.split(r"\s*[-–]\s*", part)
            if len(rng) == 2 and rng[0].isdigit() and rng[1].isdigit() and 0 <= int(rng[1]) - int(rng[0]) < 10:
                vals = range(int(rng[0]), int(rng[1]) + 1)
            else:
                vals = [int(x) for x in rng if x.isdigit()]
            for v in vals:
                if v not in nums:
                    nums.append(v)
    clean = _CITE.sub("", sentence)
    clean = re.sub(r"\s+([.,;:!?])", r"\1", clean).strip()
    return clean, nums



# ---- citation markers ---------------------------------------------------------
CITATION = re.compile(r"\[\s*\d+(?:\s*[,;-]\s*\d+)*\s*\]")      # [2]  [1, 3]  [2-4]
LEADING_CITATIONS = re.compile(r"^(?:\s*\[\d+(?:\s*,\s*\d+)*\])+")  # markers that open a text


def cited_numbers(text: str) -> list[int]:
    """Numbers of the strict [n] markers in `text`, in order of first appearance ([2-4] -> 2, 3, 4)."""
    nums: list[int] = []
    for m in CITATION.finditer(text):
        for part in re.split(r"[,;]", m.group(0).strip("[] ")):
            part = part.strip()
            if "-" in part:
                a, b = (int(x) for x in part.split("-", 1))
                found = range(a, b + 1) if 0 <= b - a <= 20 else [a, b]
            else:
                found = [int(part)] if part.isdigit() else []
            nums.extend(n for n in found if n not in nums)
    return nums


_SPACE_BEFORE_STOP = re.compile(r"[ \t]+(?=[.,;:!?])")
_SPACES = re.compile(r"[ \t]{2,}")


def strip_citations(text: str) -> str:
    """`text` without its strict [n] markers, and without the space they leave before a stop or beside a
    space ("aid [1]." -> "aid.", "aid [1] and" -> "aid and")."""
    return _SPACES.sub(" ", _SPACE_BEFORE_STOP.sub("", CITATION.sub(" ", text or "")))


# ---- the chunker's sentence splitter ------------------------------------------
_SENTENCE_END = re.compile(r"[.!?…]+[\"”’')\]]*(?=\s+[\"“‘'(\[]?[A-Z0-9—–-])|\n\n")
_ABBREV = re.compile(
    r"(?:\b(?:Mr|Ms|Mrs|Dr|St|Sen|Rep|Gov|Gen|Lt|Col|Sgt|Capt|Adm|Jr|Sr|Prof|Rev|Hon|No|Nos|vs|Vol|Inc|Corp|Co|"
    r"Ltd|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|Ft|Mt|approx|etc|e\.g|i\.e|a\.m|p\.m)"
    r"|\b[A-Z]|\b(?:[A-Z]\.){1,3}[A-Z])\.$")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences of `text` (paragraph breaks always end one)."""
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        end = m.end()
        if m.group() != "\n\n" and _ABBREV.search(text[start:end]) and not text[start:end].endswith(".."):
            continue
        if text[start:end].strip():
            spans.append((start, end))
        start = end
        while start < len(text) and text[start].isspace():
            start += 1
    if text[start:].strip():
        spans.append((start, len(text)))
    return [(s, e) for s, e in ((s, _rstrip_end(text, s, e)) for s, e in spans) if e > s]


def _rstrip_end(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1].isspace():
        end -= 1
    return end


def what_is_said(text: str) -> set[str]:
    """The stems of `text`'s content words less those of its names: what a sentence says, not who or where (the
    checker compares it between a claim and a passage sentence)."""
    return content_stems(text) - {stem(w) for w in names(text)}
