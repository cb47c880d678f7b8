"""Evidence and the abstention gate: the sentence of each passage that best answers the question, and
whether the passages answer it at all. Takes a question and prepared passages; gives scored `Evidence`, a
`Gate`, the digest's selection and the excerpts the model reads.

The quote of a passage is its sentence closest to the question (cosine plus a share of its words), preferring one
that holds the kind of fact asked for (`asked_for`: a number, a date, a name) and the question's rarer words, read
with its neighbour: of the sentence before and the one after, the one whose pair with it is closer to the question
(the same score over the pair's text). An answer often sits beside the sentence that echoes the question.

Abstention is one score (settings.answer): the best evidence score (an official's sentence: cosine to the
question plus a share of its words), less `unknown_name_penalty` when the question names something the whole
archive never mentions (after mapping a capital used for its government, "Beijing" -> china, and ignoring
months). Answer when it reaches `relevance_min` and the passages hold `coverage_min` of the question's topic
words. A name the archive never holds is the mark of a topic it does not cover ("Khashoggi", "Guantanamo"), yet
a question may paraphrase a name the transcript spells otherwise ("Trump-era officials"): such a question needs
stronger evidence, not a refusal. A name only missing from the retrieved passages is usually context ("in
Geneva") and counts for nothing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from rag.answer.aliases import CAPITALS
from rag.answer.verify import PassageView, supporting
from rag.lexicon import MONTH_NAMES, content_stems, content_words, names, quantities, stem, words
from rag.records import Hit
from rag.settings import current

ALIASES = {**CAPITALS, "washington": "u.s"}   # a capital in the question read as its country
MONTHS = set(MONTH_NAMES)


def topic_of(question: str) -> str:
    """The question's content words in order ('What did officials say about North Korea?' -> 'North Korea')."""
    keep = set(content_words(question))
    toks = re.findall(r"[A-Za-z][A-Za-z'’\-.]*[A-Za-z]|\d+", question)
    return " ".join(t for t in toks if t.lower().replace("’", "'").removesuffix("'s").strip(".'-") in keep) or question


@dataclass
class Evidence:
    n: int            # passage number (1-based position in the passages)
    score: float      # best sentence score
    best: int         # index of that sentence in the passage
    start: int        # verbatim quote span in hit.text
    end: int


def score_evidence(question: str, views: list[PassageView], encode,
                   rarity: Optional[Callable[[str], dict[str, float]]] = None) -> list[Evidence]:
    """Best-supporting sentence of each passage that can back a claim, best first; its quote is that sentence
    read with the neighbour (before or after) that makes the pair closest to the question. `rarity` (the index's
    `Index.rarity`: a text's words -> their idf) weighs the question's words when choosing the quote."""
    cfg = current().answer
    topic = topic_of(question)
    qv = encode([question, topic])
    stems = content_stems(question)
    kind = asked_for(question)   # the quote prefers the kind of fact asked for; the gate reads `scores` alone
    rare = rarity(question) if rarity else {}

    def choosing(sim: float, text: str, content: set) -> float:
        """How well a sentence (or pair) answers: cosine, the question's words it holds (weighed by rarity when
        the index can tell), the kind of fact asked for."""
        if rare:
            held = sum(w for s, w in rarity(text).items() if s in rare) / sum(rare.values())
            out = sim + cfg.quote_rarity_weight * held
        else:
            out = sim + cfg.lexical_weight * len(stems & content) / max(1, len(stems))
        return out + (cfg.answer_type_weight * holds(text, kind, question) if kind else 0.0)

    chosen = []
    for v in views:
        if not supporting(v.hit) or not len(v.vectors):
            continue
        sims = np.max(v.vectors @ qv.T, axis=1)
        lex = np.array([len(stems & v.sentence_content[i]) / max(1, len(stems)) for i in range(len(v.spans))])
        scores = sims + cfg.lexical_weight * lex
        best = int(np.argmax([choosing(float(sims[i]), v.sentence(i), v.sentence_content[i])
                              for i in range(len(v.spans))]))
        # the pairs holding the sentence: with the one after (a long one is cut at a word when shown, as any
        # quote), and with the one before when the two fit a quote (so the cut never drops the sentence itself)
        pairs = [i for i in (best - 1, best) if 0 <= i < len(v.spans) - 1
                 and (i == best or v.spans[i + 1][1] - v.spans[i][0] <= cfg.quote_max_chars)]
        chosen.append((v, best, float(np.max(scores)), pairs))
    texts = [v.hit.text[v.spans[i][0]:v.spans[i + 1][1]] for v, _, _, pairs in chosen for i in pairs]
    sims = np.max(encode(texts) @ qv.T, axis=1) if texts else np.zeros(0)
    found, k = [], 0
    for v, best, score, pairs in chosen:
        start, end = v.spans[best]
        if pairs:
            read = [choosing(float(sims[k + j]), texts[k + j], v.sentence_content[i] | v.sentence_content[i + 1])
                    for j, i in enumerate(pairs)]
            i = pairs[int(np.argmax(read))]
            start, end = v.spans[i][0], v.spans[i + 1][1]
            k += len(pairs)
        found.append(Evidence(v.n, score, best, start, end))   # score: the gate's, unchanged
    return sorted(found, key=lambda e: -e.score)


_KINDS = (("number", re.compile(r"^\s*(?:how (?:many|much|long|far|big|large|often)|by how much|what (?:number|percent"
                                r"|percentage|share|amount|proportion|sum|size))\b", re.I)),
          ("date", re.compile(r"^\s*(?:when|what (?:date|day|year|month|time)|on what (?:date|day)|by when|"
                              r"since when)\b"
                              r"|\bon what date\b", re.I)),
          ("name", re.compile(r"^\s*(?:who|whom|whose|where|which (?:countries|country|officials?|leaders?|"
                              r"companies|company|city|cities|organi[sz]ations?))\b", re.I)))
_DATE = re.compile(r"\b(?:" + "|".join(MONTH_NAMES) + r"|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
                   r"today|tomorrow|tonight|yesterday|"
                   r"(?:next|last|this) (?:week|month|year)|(?:19|20)\d\d)\b", re.I)


def asked_for(question: str) -> Optional[str]:
    """What kind of fact the question asks for: "number" (how many, what percentage), "date" (when, on what
    date) or "name" (who, where, which countries); None for other questions."""
    for kind, pattern in _KINDS:
        if pattern.search(question):
            return kind
    return None


# "when" asks for a date as a question word ("When will the talks resume?"), not as a clause setting the scene ("When
# Xi raised the app, what did Biden say?"), which `asked_for` also reads as a date question to prefer dated quotes
_ASKS_WHEN = re.compile(r"^\s*(?:when\s+(?:did|does|do|will|would|was|were|is|are|has|have|had|can|could|should|"
                        r"may|might|must)\b|(?:on\s+)?what\s+(?:date|day)\b|by when\b)", re.I)


def figure_asked(question: str) -> Optional[str]:
    """The number or date the question itself asks for, read strictly: "number" as `asked_for` reads it, "date"
    only when "when" is the question word (`_ASKS_WHEN`); None otherwise."""
    kind = asked_for(question)
    return kind if kind == "number" or (kind == "date" and _ASKS_WHEN.search(question)) else None


def holds(sentence: str, kind: str, question: str) -> bool:
    """Whether the sentence holds a fact of that kind that the question does not already state."""
    if kind == "number":
        return bool(quantities(sentence) - quantities(question) - {"day", "week", "month", "year", "hour", "decade"})
    if kind == "date":
        return bool(_DATE.search(sentence))
    return bool(names(sentence) - names(question) - MONTHS)


def topic_words(question: str) -> list[str]:
    m = re.search(r"\b(?:about|on|regarding|concerning)\s+(.+)$", question, re.I)
    return content_words(m.group(1) if m else question) or content_words(question)


def _absent_names(question: str, known: Callable[[str], bool]) -> list[str]:
    """Names of the question for which `known(word)` is false (months ignored, capitals read as countries)."""
    out = []
    for n in names(question):
        if n in MONTHS or known(n) or all(known(p) for p in n.split("-")):
            continue
        if n in ALIASES and known(ALIASES[n]):
            continue
        out.append(n)
    return sorted(out)


def _vocabulary(hits) -> set[str]:
    vocab: set[str] = set()
    for h in hits:
        vocab |= set(words(" ".join(x for x in (h.text, h.question, h.speaker, h.title) if x)))
    return vocab


def coverage(question: str, passages: Sequence[Hit]) -> float:
    """Share of the question's topic words (after "about", "on" ...) found in the passages. The question a passage
    answers counts here (it tells what the passage is about), never as support."""
    stems = {stem(w) for w in _vocabulary(passages)}
    tw = topic_words(question)
    held = [stem(w) in stems or (w in ALIASES and stem(ALIASES[w]) in stems) for w in tw]   # "Pyongyang" -> korea
    return sum(held) / len(tw) if tw else 0.0


@dataclass
class Gate:
    relevance: float          # best evidence score
    coverage: float           # share of the question's topic words the passages hold
    unknown: list[str] = field(default_factory=list)   # names of the question found nowhere in the index

    @property
    def score(self) -> float:
        """How well the passages answer: the best evidence, less a penalty for a name the archive never holds."""
        return self.relevance - (current().answer.unknown_name_penalty if self.unknown else 0.0)

    @property
    def ok(self) -> bool:
        cfg = current().answer
        return self.score >= cfg.relevance_min and self.coverage >= cfg.coverage_min


def gate(question: str, passages: Sequence[Hit], evidence: list[Evidence],
         mentions: Optional[Callable[[str], bool]] = None) -> Gate:
    """Whether the passages answer the question well enough to show an answer (else: abstain)."""
    # the whole index: Index.mentions looks words up in its BM25 vocabulary (no scan of every passage)
    unknown = _absent_names(question, mentions) if mentions is not None else []
    return Gate(evidence[0].score if evidence else 0.0, coverage(question, passages), unknown)


def select_digest(evidence: list[Evidence]) -> list[Evidence]:
    if not evidence:
        return []
    cfg = current().answer
    floor = max(cfg.evidence_floor, evidence[0].score - cfg.evidence_margin)
    return [e for e in evidence if e.score >= floor][:cfg.max_digest]


def excerpt(view: PassageView, e: Evidence) -> str:
    """The evidence with one sentence of context on each side (verbatim) for the model."""
    a = view.spans[max(0, e.best - 1)][0]
    b = max(e.end, view.spans[min(len(view.spans) - 1, e.best + 1)][1])
    return view.hit.text[a:b]
