"""The answer checker: every sentence shown must be supported by the passage it cites.
Takes a model's text and the passages; gives the supported sentences, why others failed, and their quotes.

`verify(text, passages, encode)` splits a model's answer into sentences and checks each one
against the passages it cites ([n] = passages[n-1]). A citation supports a sentence when

- the passage holds an official's words (never a reporter's question: QUESTIONER and
  OPERATOR passages support nothing, and `Hit.question` is never read),
- every number of the sentence occurs in the passage (text, speaker label, title or date),
- every name (capitalised word after the first) occurs there too,
- most content words occur there (crude stems: settings.answer.cover_min),
- the sentence is close in meaning to one sentence of the passage or to the whole passage
  (cosine of sentence embeddings >= settings.answer.sim_min),
- a sentence that says who spoke ("Blinken said ...", "the reporter asked ...") names the
  passage's speaker, never someone else and never a reporter.

Citations that fail are dropped; invented numbers (n > len(passages)) are dropped. A sentence
left without support is replaced by the closest verbatim sentence of a passage, attributed
to its speaker ('SECRETARY BLINKEN said: “...” [2]'), or removed when nothing is close.
`Verification.text` therefore never holds words that its cited passage does not support.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from rag.lexicon import (GENERIC, STOP, WORD, content_words, names, norm_word, numbers, parse_citations,
                         split_sentences, stem, words)
from rag.records import MODERATOR, OFFICIAL, OTHER, UNATTRIBUTED, Hit
from rag.settings import current

SUPPORTING_ROLES = (OFFICIAL, MODERATOR, OTHER, UNATTRIBUTED)

Encode = Callable[[Sequence[str]], np.ndarray]   # texts -> unit vectors (rows)

SPEECH_VERBS = (r"(?:said|says|stated|noted|added|told|tells|explained|explains|warned|warns|argued|argues|"
                r"stressed|stresses|emphasi[sz]ed|emphasi[sz]es|asked|asks|claimed|announced|announces|insisted|"
                r"suggested|acknowledged|acknowledges|described|confirmed|confirms|mentioned|replied|answered|"
                r"remarked|pointed out|made clear|underscored|reiterated)")
REPORTER = re.compile(r"\b(reporters?|questioners?|journalists?|interviewers?|correspondents?|the question|"
                      r"Q\b)", re.I)
_BOILER = re.compile(r"^\s*(?:the answer is|answer|response|summary|based on the passages?|according to the "
                     r"passages?|in the passages?)\s*[:,]\s*", re.I)
_ABSTAIN = re.compile(r"\b(do(?:es)? not (?:cover|mention|say|address|contain)|not covered|no information|"
                      r"cannot answer|can't answer|not mentioned)\b", re.I)

_FRAME = re.compile(r"^\s*(?:(?:[\w.’'-]+\s+){0,5}?[\w.’'-]+\s+(?:has\s+|had\s+|also\s+)?" + SPEECH_VERBS +
                    r"\s*(?:that\s+|:\s*|,\s*)?|according to (?:[\w.’'-]+\s*){1,5},\s*)", re.I)


def claim_text(sentence: str) -> str:
    """The claim without its attribution frame ("Blinken said that ..."), for comparing meanings."""
    rest = _FRAME.sub("", sentence, count=1).strip(" “”\"")
    return rest if len(rest.split()) >= 3 else sentence


def supporting(hit: Hit) -> bool:
    """Whether a passage can back a claim: it holds an official's (or moderator's) words, not a reporter's."""
    return hit.role in SUPPORTING_ROLES


def attribution(hit: Hit) -> str:
    """Who said the passage's words, as shown to the reader."""
    if hit.speaker:
        return hit.speaker
    return "The transcript"


def _speaker_tokens(hit: Hit) -> set[str]:
    toks = set(words(hit.speaker or ""))
    if toks & {"official", "officials"}:
        toks |= {"official", "officials"}
    return toks


TITLES = {"secretary", "president", "minister", "ambassador", "spokesperson", "spokesman", "advisor", "adviser",
          "director", "moderator", "official", "officials", "representative", "envoy"}
_NOT_PERSON = {"senior", "administration", "state", "states", "department", "white", "house", "national",
               "security", "u.s", "united", "the", "a", "an"}


def check_attribution(sentence: str, hit: Hit) -> Optional[str]:
    """None when the sentence's stated speaker (if any) is the passage's speaker, else the reason."""
    subjects = []
    m = re.search(r"((?:[\w.’'-]+\s+){0,3}[\w.’'-]+)\s+(?:has\s+|had\s+|was\s+|is\s+)?" + SPEECH_VERBS + r"\b",
                  sentence, re.I)
    if m:
        subjects.append(m.group(1))
        if re.search(r"\b(?:was|were|is|are|been)\s+ask(?:ed|s)\b|\bask(?:ed|s)\b",
                     sentence[m.start(1):m.end()], re.I):
            return "presents a reporter's question as the cited speaker's words"
    by = re.search(r"\baccording to ((?:[\w.’'-]+\s*){1,4})", sentence, re.I)
    if by:
        subjects.append(by.group(1))
    for subject in subjects:
        if REPORTER.search(subject):
            return "presents a reporter's words as the cited speaker's"
        toks = [w for w in words(subject) if w not in STOP]
        caps = {norm_word(t) for t in WORD.findall(subject) if t[0].isupper()}
        proper = caps - TITLES - _NOT_PERSON - STOP - GENERIC
        speaker = _speaker_tokens(hit)
        if proper and not proper & speaker:
            return f"names {', '.join(sorted(proper))} as the speaker, but the cited words are {attribution(hit)}'s"
        said_titles = set(toks) & TITLES
        if said_titles and not proper and not said_titles & speaker and not (
                {"official", "officials"} & said_titles and hit.role == OFFICIAL):
            return (f"attributes the words to a {'/'.join(sorted(said_titles))}, "
                    f"but the cited words are {attribution(hit)}'s")
    return None


@dataclass
class PassageView:
    """A passage prepared for checking: its sentences (verbatim spans) and their vectors."""
    n: int
    hit: Hit
    spans: list[tuple[int, int]]
    vectors: np.ndarray          # (len(spans), dim)
    passage_vector: np.ndarray   # (dim,)
    vocab_words: set[str]
    vocab_stems: set[str]
    vocab_numbers: set[str]

    def sentence(self, i: int) -> str:
        a, b = self.spans[i]
        return self.hit.text[a:b]


def prepare(passages: Sequence[Hit], encode: Encode) -> list[PassageView]:
    views, texts, owners = [], [], []
    for n, hit in enumerate(passages, start=1):
        spans = split_sentences(hit.text) or [(0, len(hit.text))]
        meta = " ".join(x for x in (hit.speaker, hit.title, hit.date) if x)
        ws = set(words(hit.text + " " + meta))
        views.append(PassageView(n, hit, spans, np.zeros((0, 0)), np.zeros(0), ws, {stem(w) for w in ws},
                                 numbers(hit.text + " " + meta) | _date_numbers(hit.date)))
        texts.append(hit.text)
        owners.append((n - 1, None))
        for i, (a, b) in enumerate(spans):
            texts.append(hit.text[a:b])
            owners.append((n - 1, i))
    vecs = encode(texts) if texts else np.zeros((0, 1), dtype=np.float32)
    per: dict[int, list] = {}
    for (vi, si), v in zip(owners, vecs):
        if si is None:
            views[vi].passage_vector = v
        else:
            per.setdefault(vi, []).append(v)
    for vi, rows in per.items():
        views[vi].vectors = np.vstack(rows)
    return views


def _date_numbers(date: Optional[str]) -> set[str]:
    if not date:
        return set()
    parts = date.split("-")
    return set(parts) | {p.lstrip("0") for p in parts}


@dataclass
class Support:
    ok: bool
    reason: str
    similarity: float
    best: int                     # index of the closest sentence in the passage
    coverage: float = 0.0


def support(sentence: str, vec: np.ndarray, view: PassageView) -> Support:
    """Does passage `view` support `sentence` (citations already removed)?"""
    sims = view.vectors @ vec if len(view.vectors) else np.zeros(1)
    best = int(np.argmax(sims))
    sim = max(float(sims[best]), float(view.passage_vector @ vec) if view.passage_vector.size else 0.0)
    if not supporting(view.hit):
        return Support(False, f"[{view.n}] holds a {view.hit.role}'s words, which cannot back a claim", sim, best)
    missing_nums = numbers(sentence) - view.vocab_numbers
    if missing_nums:
        return Support(False, f"number {', '.join(sorted(missing_nums))} not in [{view.n}]", sim, best)
    missing_names = {w for w in names(sentence) if w not in view.vocab_words}
    if missing_names:
        return Support(False, f"{', '.join(sorted(missing_names))} not in [{view.n}]", sim, best)
    cw = content_words(sentence)
    cover = sum(stem(w) in view.vocab_stems for w in cw) / len(cw) if cw else 0.0
    if not cw:
        return Support(False, "no content", sim, best)
    if cover < current().answer.cover_min:
        absent = [w for w in cw if stem(w) not in view.vocab_stems]
        return Support(False, f"words not in [{view.n}]: {', '.join(absent[:5])}", sim, best, cover)
    mine = {stem(w) for w in cw}
    predicate = mine - {stem(w) for w in names(sentence)}   # what is said, not who or where

    def must_agree(i: int) -> bool:
        """Sentences whose polarity must agree with the claim's: close in meaning, sharing two content words,
        or right next to the closest one and sharing what is said ("... signed the Minsk agreements. They
        haven't been implemented." does not back "the agreements have been implemented")."""
        theirs = content_words(view.sentence(i))
        shared = mine & {stem(w) for w in theirs}
        return (float(sims[i]) >= float(sims[best]) - 0.25 or len(shared) >= min(2, len(theirs))
                or (abs(i - best) == 1 and bool(shared & predicate)))

    if any(_negated(sentence) != _negated(view.sentence(i)) for i in range(len(view.spans)) if must_agree(i)):
        return Support(False, f"[{view.n}] says the opposite (negation differs)", sim, best, cover)
    why = check_attribution(sentence, view.hit)
    if why:
        return Support(False, why, sim, best, cover)
    if sim < current().answer.sim_min:
        return Support(False, f"not close in meaning to [{view.n}] (cosine {sim:.2f})", sim, best, cover)
    return Support(True, "supported", sim, best, cover)


_NEGATION = re.compile(r"\b(?:not|no|never|neither|nor|none|nothing|cannot|without)\b|n[’']t\b", re.I)


def _negated(text: str) -> bool:
    """Odd number of negations: 'we do not believe' is negated, 'not only ... but not' is not."""
    return len(_NEGATION.findall(text)) % 2 == 1


@dataclass
class SentenceCheck:
    original: str                 # the sentence as generated
    text: str                     # without citation markers
    cited: list[int]              # numbers the model cited
    kept: list[int]               # citations that support it (may include a repaired one)
    status: str                   # "kept", "repaired", "replaced", "removed", "meta"
    reasons: dict[int, str] = field(default_factory=dict)   # n -> why it was dropped / kept
    quotes: dict[int, str] = field(default_factory=dict)    # n -> verbatim supporting sentence
    replacement: Optional[str] = None


@dataclass
class Verification:
    text: str                     # the checked answer: supported sentences and attributed quotes only
    checks: list[SentenceCheck]
    quotes: dict[int, str]        # n -> verbatim words of passage n backing the text
    abstain_hint: bool = False    # the model itself said the passages do not cover the question

    @property
    def supported(self) -> int:
        return sum(c.status in ("kept", "repaired", "replaced") for c in self.checks)


def _with_citations(text: str, ns: Sequence[int]) -> str:
    marks = "".join(f"[{n}]" for n in ns)
    m = re.search(r"([.!?…][”\"’)]?)\s*$", text)
    if m:
        return f"{text[:m.start()].rstrip()} {marks}{m.group(1)}" if marks else text
    return f"{text} {marks}." if marks else text + "."


def quote_line(view: PassageView, i: int) -> str:
    q = view.sentence(i).strip()
    return f"{attribution(view.hit)} said: “{q}” [{view.n}]"


def verify(text: str, passages: Sequence[Hit], encode: Encode, replace: bool = True,
           views: Optional[list[PassageView]] = None) -> Verification:
    """Check `text` (a model's answer citing [n] = passages[n-1]) sentence by sentence."""
    views = views if views is not None else prepare(passages, encode)
    text = re.sub(r'["“”]', "", text)   # a model's quotation marks would hide sentence ends
    raw = [text[a:b] for a, b in split_sentences(text)]
    parsed = []
    for s in raw:
        clean, cited = parse_citations(s)
        clean = _BOILER.sub("", re.sub(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+", "", clean)).strip()
        if clean[:1].islower():
            clean = clean[0].upper() + clean[1:]
        parsed.append((s, clean, cited))
    vecs = encode([claim_text(p[1]) or "-" for p in parsed]) if parsed else np.zeros((0, 1))
    checks: list[SentenceCheck] = []
    out: list[str] = []
    quotes: dict[int, str] = {}
    used_quotes: set[tuple[int, int]] = set()
    abstain_hint = False
    for (orig, clean, cited), vec in zip(parsed, vecs):
        c = SentenceCheck(orig, clean, cited, [], "removed")
        checks.append(c)
        if not content_words(clean):
            c.status = "meta"
            continue
        if _ABSTAIN.search(clean):
            abstain_hint = True
            c.status = "meta"
            continue
        results: dict[int, Support] = {}
        for n in cited:
            if not 1 <= n <= len(views):
                c.reasons[n] = f"[{n}] does not exist (only {len(views)} passages)"
                continue
            r = support(clean, vec, views[n - 1])
            results[n] = r
            c.reasons[n] = r.reason
            if r.ok:
                c.kept.append(n)
        if not c.kept:  # repair: an uncited or mis-cited sentence may be backed by another passage
            best_n, best_sim = None, -1.0
            for v in views:
                if v.n in results:
                    continue
                r = support(clean, vec, v)
                results[v.n] = r
                if r.ok and r.similarity > best_sim:
                    best_n, best_sim = v.n, r.similarity
            if best_n is not None:
                c.kept.append(best_n)
                c.reasons[best_n] = "supported (citation repaired)"
                c.status = "repaired"
        else:
            c.status = "kept"
        if c.kept:
            for n in c.kept:
                i = results[n].best
                c.quotes[n] = views[n - 1].sentence(i)
                quotes.setdefault(n, c.quotes[n])
                used_quotes.add((n, i))
            out.append(_with_citations(clean, c.kept))
            continue
        if not replace:
            continue
        # replacement: the closest verbatim sentence of a supporting passage, attributed to its speaker
        cands = [(float(v.vectors[i] @ vec), v.n, i) for v in views if supporting(v.hit) for i in range(len(v.spans))]
        cands = [x for x in cands if (x[1], x[2]) not in used_quotes]
        if cands:
            sim, n, i = max(cands)
            if sim >= current().answer.replace_min:
                v = views[n - 1]
                c.status, c.kept = "replaced", [n]
                c.quotes[n] = v.sentence(i)
                c.replacement = quote_line(v, i)
                quotes.setdefault(n, c.quotes[n])
                used_quotes.add((n, i))
                out.append(c.replacement)
    return Verification(" ".join(out), checks, quotes, abstain_hint)
