"""Survey retrieval: every briefing where an official addresses a topic, not the top five passages.
Takes an index view, a topic and filters; gives one `Found` per briefing (its relevant rows, best one first, and the quote).

Recall first, with one relevance floor. The candidates are every allowed row whose BM25 text holds a topic word,
joined by the rows closest to the topic by vectors (paraphrases that never name it). Each candidate is scored

    relevance = cosine(topic, passage) + topic_weight x coverage - missing_penalty x missing

where coverage is the share of the topic's words (each weighted by its rarity: BM25's idf, squared) found in the
speaker's own words, or (times question_weight) in the reporter's question the passage answers: "this company"
answers a question about Evergrande; missing is the share found in neither ("border" alone is not "border wall").
A word counts in its derived forms ("Haitian" for "Haiti"), and not where it is one name in a series of three or
more ("Cuba, Haiti, Nicaragua, and Venezuela": named in passing), nor, for a word the archive writes in lower case,
inside another name ("the Wall Street Journal" is not a wall). A row is relevant at relevance >= floor (settings.survey, calibrated on the
tuning topics). Quotes are always the speaker's own words. A row without a vector yet (an ingest still embedding) is
relevant only when its own words hold every topic word. Allowed rows: the filters, and officials only unless
the filter names a speaker or a role. Acknowledgements ("Yeah.") never count.

The quote of a briefing is verbatim from its best row: of the sentences holding most of the topic's weight, the
one nearest the topic by vectors, with the next sentence when it is short.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np

from rag.indexing.lexical import tokenize
from rag.lexicon import HONORIFICS, sentence_spans
from rag.records import OFFICIAL
from rag.retrieval.filters import Filters, wanted
from rag.retrieval.view import IndexView
from rag.settings import SurveySettings, current

DERIVED_LETTERS = 3     # "Haitian" counts for "Haiti", "Syrian" for "Syria"; "crossroads" not for "crossing"
DEMONYM_ENDINGS = ("n", "an", "ian", "i", "ese", "ish")   # "Haiti" -> "Haitian", "Israel" -> "Israeli" (stems)
SHORT_QUOTE = 110       # characters: a sentence this short is extended by the next one (readability, not tuned)
QUOTE_SENTENCES = 800   # sentences encoded at most to choose quotes: a bound on a survey's time, not tuned


@dataclass
class Term:
    stem: str               # BM25's stem ("loan")
    forms: frozenset        # the indexed stems that count as it: itself and derived forms ("haiti", "haitian")
    pattern: re.Pattern     # finds words that may have one of those stems, checked by stemming
    weight: float           # idf ** settings.survey.rarity_power
    word: str = ""          # the topic's word it comes from ("loans")
    # a person the topic names ("Alexei Navalny"): the index of that name among the topic's, and whether this word
    # is the surname ("Navalny") or a first name ("Alexei"); set by `mark_person_names`
    person: int = -1
    surname: bool = False
    # the index writes the word in lower case ("wall", "border"), so a capitalised one inside another name ("Wall
    # Street", "Border Patrol") is that name, not the topic's word; set by `mark_common_words`
    common: bool = False
    topic_forms: frozenset = frozenset()   # every topic word's stems: a name made of topic words still counts


@dataclass
class Found:
    doc_id: str
    rows: list[int]                 # relevant rows of the briefing, best first
    score: float                    # relevance of the best row
    quote: tuple[int, int] = (0, 0)  # span of the quote in the best row's text
    speakers: list[str] = field(default_factory=list)

    @property
    def row(self) -> int:
        return self.rows[0]


def topic_terms(view: IndexView, topic: str, cfg: Optional[SurveySettings] = None) -> list[Term]:
    """The topic's BM25 stems with the derived forms the index holds (a stem extended by at most
    DERIVED_LETTERS letters: "Haiti" -> "Haitian", "Syria" -> "Syrian") and their weight (idf over the rows,
    raised to `rarity_power`: "Uvalde" outweighs "shooting"), heaviest first."""
    cfg = cfg or current().survey
    terms: dict[str, Term] = {}
    n = max(1, len(view.chunks))
    for word in re.findall(r"\w+", topic):
        for stem in tokenize(word):
            if stem in terms or len(stem) < 2:
                continue
            forms = [stem] + (view.lexical.variants(stem, DERIVED_LETTERS) if len(stem) >= 4 else [])
            if cfg.derived_forms == "demonyms":
                forms = [f for f in forms if f == stem or (word[:1].isupper() and f[len(stem):] in DEMONYM_ENDINGS)]
            # a word the index never holds keeps its (top) weight: "Mars mission budget" is not covered by "mission"
            df = int(np.count_nonzero(view.lexical.stem_scores(list(dict.fromkeys(forms)))))
            prefix = os.path.commonprefix([word.lower(), stem])
            terms[stem] = Term(stem, frozenset(forms),
                               re.compile(r"\b" + re.escape(prefix[:max(2, len(prefix))]) + r"\w*", re.I),
                               math.log(1 + (n - df + 0.5) / (df + 0.5)) ** cfg.rarity_power, word)
    every = frozenset(f for t in terms.values() for f in t.forms)
    for t in terms.values():
        t.topic_forms = every
    return sorted(terms.values(), key=lambda t: -t.weight)


_NEXT_WORD = re.compile(r"\s+([A-Z][\w’'-]*)")
_PREVIOUS_WORD = re.compile(r"([A-Z][\w’'-]*)\s+$")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\"“”—(\[]|--)\s*$")
COMMON_SAMPLE = 2000    # texts read to tell a common word from a name: a bound on time, not tuned


def case_counts(pattern: re.Pattern, forms: frozenset, texts: list[str]) -> tuple[int, int, int]:
    """How often `texts` write a word of `forms` (found by `pattern`, checked by stemming): in lower case,
    capitalised, and in all (a digit first is neither)."""
    lower = upper = total = 0
    for text in texts:
        for m in pattern.finditer(text):
            if set(tokenize(m.group())) & forms:
                lower += m.group()[0].islower()
                upper += m.group()[0].isupper()
                total += 1
    return lower, upper, total


def mark_common_words(terms: list[Term], texts: list[str]) -> None:
    """A topic word is common when most of its occurrences in `texts` (the candidates) are written in lower case
    ("wall", "border"; not "Haiti", "Uvalde"): then its capitalised occurrences inside another name do not count."""
    for t in terms:
        lower, _, total = case_counts(t.pattern, t.forms, texts[:COMMON_SAMPLE])
        t.common = lower > total - lower


def _in_other_name(text: str, start: int, end: int, term: Term) -> bool:
    """A capitalised occurrence of a common topic word, not at a sentence's start, next to a capitalised word that
    is not a topic word: part of another name ("the Wall Street Journal", "Border Patrol agents")."""
    if not term.common or text[start].islower() or _SENTENCE_START.search(text[max(0, start - 4):start]):
        return False
    lead = text[max(0, start - 40):start]
    after = _NEXT_WORD.match(text, end, end + 40)
    before = _PREVIOUS_WORD.search(lead)
    if before and _SENTENCE_START.search(lead[:before.start(1)][-4:]):
        before = None   # "Our Border Patrol": "Our" is capitalised as a sentence's first word; the word after decides
    return any(m and not set(tokenize(m.group(1))) & term.topic_forms for m in (after, before))


# a series of three or more names ("Cuba, Haiti, Nicaragua, and Venezuela"): a topic named only inside one is
# mentioned in passing, not addressed (eval/TOPICS.md), so such a mention does not count as holding the word
_NAME = r"[A-Z][\w.’'-]*(?:\s+(?:of\s+|the\s+)?[A-Z][\w.’'-]*)*"
_SERIES = re.compile(rf"(?:{_NAME},\s+){{2,}}(?:and\s+|or\s+)?{_NAME}")


def _places(text: str, term: Term, first: bool = False) -> list[int]:
    """Where `text` names the term outside a series of names (character offsets; only the first if `first`)."""
    series, out = None, []
    for m in term.pattern.finditer(text):
        if not set(tokenize(m.group())) & term.forms or _in_other_name(text, m.start(), m.end(), term):
            continue
        if series is None:
            series = [(x.start(), x.end()) for x in _SERIES.finditer(text)]
        if not any(a <= m.start() < b for a, b in series):
            out.append(m.start())
            if first:
                break
    return out


def held(text: str, terms: list[Term]) -> frozenset:
    """The topic's words `text` names (outside a series of names and other names), by their stems; a person's
    surname stands for their first names too (`mark_person_names`)."""
    stems = frozenset(t.stem for t in terms if _places(text, t, first=True))
    people = {t.person for t in terms if t.surname and t.stem in stems}
    return stems | {t.stem for t in terms if t.person in people} if people else stems


_CAPITALISED_RUN = re.compile(r"[A-Z][\w’'-]*(?:\s+[A-Z][\w’'-]*)+")
_HONORIFIC = r"\b(?:" + "|".join(h.capitalize() for h in HONORIFICS + ("miss", "judge", "justice")) + r")\.?\s+"


def mark_person_names(terms: list[Term], topic: str, texts: list[str]) -> None:
    """A run of capitalised words in the topic ("Alexei Navalny", "Paul Whelan") names a person when `texts` (the
    candidates) write its last word after an honorific ("Mr. Navalny"); then that word is the surname, and where
    a text names it, the person's first names count as named (officials say "Mr. Navalny", and the archive spells
    him "Aleksey"). "Colonial Pipeline" or "Key Bridge" never follow "Mr.", so they stay two words."""
    by_stem = {t.stem: t for t in terms}
    for person, run in enumerate(_CAPITALISED_RUN.findall(topic)):
        words = run.split()
        after_honorific = re.compile(_HONORIFIC + re.escape(words[-1]) + r"\b")
        if not any(after_honorific.search(text) for text in texts[:COMMON_SAMPLE]):
            continue
        for i, word in enumerate(words):
            for stem in tokenize(word):
                if stem in by_stem:
                    by_stem[stem].person, by_stem[stem].surname = person, i == len(words) - 1


def share(stems: frozenset, terms: list[Term]) -> float:
    """Share of the topic's weight in these words."""
    total = sum(t.weight for t in terms)
    return sum(t.weight for t in terms if t.stem in stems) / total if total else 0.0


def coverage(text: str, terms: list[Term], window: int = 0) -> float:
    """Share of the topic's weight whose words occur in `text`. With a `window` (characters) and a topic of several
    words, a word counts only within `window` of the heaviest word (the anchor), and nothing counts without the
    anchor: "loans" alone is not "student loans", "shooting" alone not "Uvalde shooting"."""
    total = sum(t.weight for t in terms)
    if not total:
        return 0.0
    if window <= 0 or len(terms) < 2:
        return share(held(text, terms), terms)
    anchors = _places(text, terms[0])
    if not anchors:
        return 0.0
    near = sum(t.weight for t in terms[1:] if any(abs(p - a) <= window for p in _places(text, t) for a in anchors))
    return (terms[0].weight + near) / total


def allowed_rows(view: IndexView, filters: Filters) -> np.ndarray:
    """Rows passing the filters; officials only when no speaker or role is asked for; no acknowledgements."""
    cols = view.columns
    if not wanted(filters.speaker):
        filters = replace(filters, speaker=OFFICIAL)
    rows = cols.allowed(filters)
    return rows[~cols.trivial[rows]]


@dataclass
class Candidates:
    """Rows that may address the topic, with what relevance is computed from."""
    rows: np.ndarray            # row ids
    cos: np.ndarray             # cosine to the topic; -1 for a row without a vector yet
    cover: np.ndarray           # share of the topic's weight in the speaker's own words
    qcover: np.ndarray          # share of the topic's weight in the question the passage answers
    union: np.ndarray           # share of the topic's weight in the own words or the question, together
    contrast: np.ndarray        # cosine to the whole topic minus cosine to the part of it the own words hold
    qcontrast: np.ndarray       # the same for the question's words (inf where all or none of the topic is held)
    has_vector: np.ndarray
    terms: list[Term]
    qvec: Optional[np.ndarray]


def candidates(view: IndexView, topic: str, filters: Filters, cfg: SurveySettings) -> Candidates:
    """Allowed rows holding a topic word (BM25), joined by the `dense_candidates` rows nearest by vectors."""
    cols = view.columns
    allowed = allowed_rows(view, filters)
    terms = topic_terms(view, topic, cfg)
    stems = [f for t in terms for f in sorted(t.forms)]
    rows = allowed[view.lexical.stem_scores(stems)[allowed] > 0] if len(allowed) else allowed
    qvec = view.encoder.encode_query(topic) if view.embedded and len(allowed) else None
    if qvec is not None:
        narrow = len(allowed) < cols.n
        near = view.dense.rank(qvec, cfg.dense_candidates, allowed if narrow else None,
                               view.dense.selector(allowed) if narrow else None, filters, None)
        rows = np.union1d(rows, np.array([r for r, _ in near], dtype=np.int64))
    chunks = view.chunks
    w = cfg.anchor_window
    if cfg.names_apart:
        mark_common_words(terms, [chunks[r].text for r in rows.tolist()])
    if cfg.surnames:
        mark_person_names(terms, topic, [chunks[r].text for r in rows.tolist()])
    own = [held(chunks[r].text, terms) for r in rows.tolist()]
    asked = [held(chunks[r].question or "", terms) for r in rows.tolist()]
    union = np.array([share(a | b, terms) for a, b in zip(own, asked)], dtype=np.float32)
    if w > 0:
        cover = np.array([coverage(chunks[r].text, terms, w) for r in rows.tolist()], dtype=np.float32)
        qcover = np.array([coverage(chunks[r].question or "", terms, w) for r in rows.tolist()], dtype=np.float32)
    else:
        cover = np.array([share(a, terms) for a in own], dtype=np.float32)
        qcover = np.array([share(b, terms) for b in asked], dtype=np.float32)
    cos = view.dense.similarity(qvec, rows.tolist()) if qvec is not None and len(rows) \
        else np.full(len(rows), -1.0, dtype=np.float32)
    cos = np.asarray(cos, dtype=np.float32)
    contrast = _contrast(view, terms, rows, cos, [chunks[r].text for r in rows.tolist()], cfg)
    qcontrast = _contrast(view, terms, rows, cos, [chunks[r].question or "" for r in rows.tolist()], cfg)
    return Candidates(rows, cos, cover, qcover, union, contrast, qcontrast, rows < view.embedded, terms, qvec)


def _contrast(view: IndexView, terms: list[Term], rows: np.ndarray, cos: np.ndarray, texts: list[str],
              cfg: SurveySettings) -> np.ndarray:
    """For a text holding part of a several-word topic ("loans" of "student loans"): the passage's cosine to the
    whole topic minus its cosine to the part held ("loans"). Below zero, the passage is about the part, not the
    topic (small-business loans). inf where the text holds all or none of the topic, or when switched off."""
    out = np.full(len(rows), np.inf, dtype=np.float32)
    if cfg.contrast_margin is None or len(terms) < 2 or not view.embedded:
        return out
    groups: dict[tuple, list[int]] = {}
    for i, text in enumerate(texts):
        held = tuple(t.word for t in terms if _places(text, t, first=True))
        if held and len(held) < len(terms) and rows[i] < view.embedded:
            groups.setdefault(held, []).append(i)
    for held, idx in groups.items():
        sub = view.encoder.encode_query(" ".join(held))
        out[idx] = cos[idx] - np.asarray(view.dense.similarity(sub, rows[idx].tolist()), dtype=np.float32)
    return out


def relevance(c: Candidates, cfg: SurveySettings) -> np.ndarray:
    """cosine + topic_weight x coverage ** coverage_power (own words, or question_weight x the question's); a row
    without a vector: at the floor when its own words hold every topic word."""
    margin = cfg.contrast_margin if cfg.contrast_margin is not None else np.inf
    own = np.where(c.contrast >= -margin, c.cover, 0.0)
    asked = np.where(c.qcontrast >= -margin, c.qcover, 0.0)
    cover = np.maximum(own, cfg.question_weight * asked) ** cfg.coverage_power
    missing = cfg.missing_penalty * (1.0 - c.union)
    return np.where(c.has_vector, c.cos + cfg.topic_weight * cover - missing,
                    np.where(c.cover >= 0.999, cfg.floor, -1.0))


def _relevant(view: IndexView, topic: str, filters: Optional[Filters],
              cfg: SurveySettings) -> tuple[Optional[Candidates], np.ndarray, np.ndarray]:
    """The candidates, the rows at or above the floor, and their relevance (no candidates for an empty topic or
    index)."""
    if not topic.strip() or view.columns.n == 0:
        return None, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    c = candidates(view, topic, filters or Filters(), cfg)
    score = relevance(c, cfg)
    keep = score >= cfg.floor
    return c, c.rows[keep], score[keep]


def briefings(view: IndexView, topic: str, filters: Optional[Filters] = None,
              settings: Optional[SurveySettings] = None) -> set[str]:
    """The doc_ids of the briefings `find` would give, without choosing their quotes."""
    _, rows, _ = _relevant(view, topic, filters, settings or current().survey)
    return {view.chunks[r].doc_id for r in rows.tolist()}


def find(view: IndexView, topic: str, filters: Optional[Filters] = None,
         settings: Optional[SurveySettings] = None) -> list[Found]:
    """Every briefing with a relevant row, most relevant first (see the module docstring)."""
    cfg = settings or current().survey
    c, rows, scores = _relevant(view, topic, filters, cfg)
    if c is None:
        return []
    chunks = view.chunks
    by_doc: dict[str, list[tuple[float, int]]] = {}
    for r, s in zip(rows.tolist(), scores.tolist()):
        by_doc.setdefault(chunks[r].doc_id, []).append((s, r))
    found = []
    for doc_id, scored in by_doc.items():
        scored.sort(key=lambda x: (-x[0], x[1]))
        speakers = list(dict.fromkeys(chunks[r].speaker for _, r in scored if chunks[r].speaker))
        found.append(Found(doc_id, [r for _, r in scored], scored[0][0], speakers=speakers))
    _choose_quotes(view, found, c.terms, c.qvec, cfg.anchor_window)
    return sorted(found, key=lambda f: -f.score)


def _choose_quotes(view: IndexView, found: list[Found], terms: list[Term], qvec: Optional[np.ndarray],
                   window: int = 0) -> None:
    """Each briefing's quote: among the best row's sentences holding most of the topic's weight (all of them when
    none holds a topic word), the one nearest the topic by vectors; one batch encodes them for every briefing,
    up to QUOTE_SENTENCES in all (past that, the first such sentence)."""
    choices: list[tuple[Found, list[tuple[int, int]], list[int]]] = []
    for f in found:
        text = view.chunks[f.row].text
        spans = sentence_spans(text) or [(0, len(text))]   # the chunker's splitter: 60x pysbd's speed
        weights = [coverage(text[a:b], terms, window) for a, b in spans]
        best = max(weights)
        choices.append((f, spans, [i for i, w in enumerate(weights) if w == best]))
    sentences = [view.chunks[f.row].text[spans[i][0]:spans[i][1]] for f, spans, ties in choices if len(ties) > 1
                 for i in ties]
    sims = None
    if qvec is not None and sentences and len(sentences) <= QUOTE_SENTENCES:
        sims = view.encoder.encode(sentences) @ np.asarray(qvec, dtype=np.float32).reshape(-1)
    k = 0
    for f, spans, ties in choices:
        pick = ties[0]
        if len(ties) > 1 and sims is not None:
            pick = ties[int(np.argmax(sims[k:k + len(ties)]))]
        if len(ties) > 1:
            k += len(ties)
        f.quote = _extend(view.chunks[f.row].text, spans, pick)


def _extend(text: str, spans: list[tuple[int, int]], i: int) -> tuple[int, int]:
    """Sentence i, with the next one when it is short and the two fit an answer's quote (quote_max_chars)."""
    start, end = spans[i]
    if end - start < SHORT_QUOTE and i + 1 < len(spans) and \
            spans[i + 1][1] - start <= current().answer.quote_max_chars:
        end = spans[i + 1][1]
    return start, end
