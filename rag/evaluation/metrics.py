"""Deterministic evaluation metrics (pure functions, no models, no I/O).
Takes ranked relevance flags, answers, passages and gold items; gives hit@k, MRR, nDCG, recall, F1, faithfulness.

Definitions (also in eval/RESULTS.md):

- Normalisation: NFKC, lower case, curly quotes/dashes folded, markdown escapes
  dropped; a text's tokens are its runs of letters and digits.
- Evidence match: a passage "contains" the gold evidence when at least
  EVIDENCE_THRESHOLD (0.5) of the evidence's word 5-grams (after normalisation)
  occur in the passage (`evidence_containment`). Evidence shorter than 5 tokens
  uses n = its length. Only the passage's own words (`text`) count, never the
  question it answers, so a hit is a passage whose speaker said the words.
- Relevant hit: from the gold file (`file_matches`) and containing the evidence.
- Ranking metrics use binary relevance over the ranked list; nDCG's ideal DCG
  assumes `n_relevant` relevant passages (the caller passes the number of
  distinct relevant passages it knows of; at least 1).
- Answer metrics: keyword recall = share of gold keywords whose token sequence
  occurs contiguously in the answer; token F1 = SQuAD-style bag-of-tokens F1
  (articles and punctuation dropped, citation markers [n] dropped).
- Faithfulness: share of answer sentences supported by the passages they cite;
  a sentence is covered by the next citation marker in its line, and with none it is
  unsupported; the default support check is
  content-word containment >= SUPPORT_THRESHOLD (0.6) of the sentence's content
  words (stop words and citation markers dropped) in the union of cited passages.
"""
from __future__ import annotations

import math
import re
import unicodedata
from typing import Callable, Iterable, Optional, Sequence

from rag import lexicon
from rag.lexicon import CITATION, strip_citations

EVIDENCE_THRESHOLD = 0.5
EVIDENCE_NGRAM = 5
SUPPORT_THRESHOLD = 0.6

_FOLD = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                       "\u2013": "-", "\u2014": "-", "\u00a0": " ", "\\": " "})
_TOKEN = re.compile(r"[^\W_]+")
_ARTICLES = {"a", "an", "the"}
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have having
he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
nor not of off on once only or other our ours ourselves out over own same she should so some such than that
the their theirs them themselves then there these they this those through to too under until up very was we
were what when where which while who whom why will with would you your yours yourself yourselves said says
say s t re ve ll d m
""".split())


# ----------------------------------------------------------------------------- text
def normalize(text: Optional[str]) -> str:
    """Lower-cased, folded text (quotes, dashes, markdown escapes)."""
    if not text:
        return ""
    return unicodedata.normalize("NFKC", text).translate(_FOLD).lower()


def tokens(text: Optional[str]) -> list[str]:
    """Runs of letters/digits of the normalised text ("U.S." -> ["u", "s"])."""
    return _TOKEN.findall(normalize(text))


def _ngrams(toks: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)]


def evidence_containment(evidence: str, passage: Optional[str], n: int = EVIDENCE_NGRAM) -> float:
    """Share of the evidence's word n-grams found in the passage (0.0-1.0).

    Evidence split across two passages scores its share in each (e.g. ~0.6 and
    ~0.3), so only a passage holding most of it passes the 0.5 threshold.
    """
    ev = tokens(evidence)
    if not ev:
        return 0.0
    n = min(n, len(ev))
    grams = _ngrams(ev, n)
    have = set(_ngrams(tokens(passage), n))
    return sum(1 for g in grams if g in have) / len(grams)


def contains_evidence(evidence: str, passage: Optional[str], threshold: float = EVIDENCE_THRESHOLD) -> bool:
    return bool(evidence) and evidence_containment(evidence, passage) >= threshold


def contains_phrase(phrase: str, text: str) -> bool:
    """True when the phrase's tokens occur contiguously in the text's tokens."""
    p, t = tokens(phrase), tokens(text)
    if not p:
        return False
    if len(p) > len(t):
        return False
    first = p[0]
    return any(t[i] == first and t[i:i + len(p)] == p for i in range(len(t) - len(p) + 1))


def norm_speaker(label: Optional[str]) -> str:
    """'Mr. Price:' -> 'MR PRICE'; None -> ''."""
    return " ".join(tokens(label)).upper()


def same_speaker(a: Optional[str], b: Optional[str]) -> bool:
    na, nb = norm_speaker(a), norm_speaker(b)
    return bool(na) and na == nb


def file_matches(hit_path: Optional[str], gold_file: str) -> bool:
    """Does an indexed path refer to the gold file? The gold names a file name (sample set)
    or a path relative to the corpus folder (CC0 set); indexed paths may be absolute."""
    if not hit_path or not gold_file:
        return False
    h = str(hit_path).replace("\\", "/")
    g = str(gold_file).replace("\\", "/")
    while g.startswith("./"):
        g = g[2:]
    return h == g or h.endswith("/" + g)


# ----------------------------------------------------------------------------- ranking
def hit_at_k(relevant: Sequence[bool], k: int) -> float:
    return 1.0 if any(relevant[:k]) else 0.0


def reciprocal_rank(relevant: Sequence[bool], k: Optional[int] = None) -> float:
    """1/rank of the first relevant item (ranks from 1), 0 when none (within the first k)."""
    for i, r in enumerate(relevant[:k] if k else relevant):
        if r:
            return 1.0 / (i + 1)
    return 0.0


def ndcg_at_k(relevant: Sequence[bool], k: int, n_relevant: Optional[int] = None) -> float:
    """Binary-relevance nDCG@k. The ideal ranking puts min(k, n_relevant) relevant items
    first; n_relevant defaults to the number of relevant items in the list (at least 1)."""
    rel = list(relevant[:k])
    if n_relevant is None:
        n_relevant = sum(bool(r) for r in relevant)
    n_ideal = min(k, max(1, n_relevant, sum(bool(r) for r in rel)))
    dcg = sum(1.0 / math.log2(i + 2) for i, r in enumerate(rel) if r)
    idcg = sum(1.0 / math.log2(i + 2) for i in range(n_ideal))
    return dcg / idcg


def first_relevant(relevant: Sequence[bool], k: Optional[int] = None) -> Optional[int]:
    """0-based position of the first relevant item, or None."""
    for i, r in enumerate(relevant[:k] if k else relevant):
        if r:
            return i
    return None


# ----------------------------------------------------------------------------- answers
def keyword_recall(answer: str, keywords: Sequence[str]) -> float:
    """Share of keywords found (as contiguous tokens) in the answer; 0.0 when none given."""
    kws = [k for k in keywords if tokens(k)]
    if not kws:
        return 0.0
    text = strip_citations(answer)
    return sum(1 for k in kws if contains_phrase(k, text)) / len(kws)


def _f1_tokens(text: str) -> list[str]:
    return [t for t in tokens(strip_citations(text)) if t not in _ARTICLES]


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style token F1 (multiset overlap). Both empty -> 1.0; one empty -> 0.0."""
    p, r = _f1_tokens(prediction), _f1_tokens(reference)
    if not p and not r:
        return 1.0
    if not p or not r:
        return 0.0
    counts: dict[str, int] = {}
    for t in r:
        counts[t] = counts.get(t, 0) + 1
    common = 0
    for t in p:
        if counts.get(t, 0) > 0:
            counts[t] -= 1
            common += 1
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(r)
    return 2 * precision * recall / (precision + recall)


_SENT_END = re.compile(r"(?<=[.!?])(?<!\b[Mm][Rr]\.)(?<!\b[Mm][Ss]\.)(?<!\b[Mm][Rr][Ss]\.)(?<!\b[Dd][Rr]\.)(?<!\b[Ss][Tt]\.)(?<!\.[A-Z]\.)(?:\s*\[\s*\d+(?:\s*[,;-]\s*\d+)*\s*\])*\s+(?=[\"'(\[]?[A-Z0-9])")


_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")
# a run of citation markers with more text after it on the line ("... aid.” [1] … “Next ..."): a claim ends there
_AFTER_MARKERS = re.compile(r"(?:\s*\[\s*\d+(?:\s*[,;-]\s*\d+)*\s*\])+[.!?,;:)\u201d\u2019\"']*(?=\s*\S)")


def split_lines(text: str) -> list[list[str]]:
    """The answer's claims, line by line: each line (bullet markers dropped) split on . ! ?
    followed by a space and a capital/digit; citation markers right after the full stop stay
    with their sentence ("... aid. [1] Next" -> "... aid. [1]", "Next"), and a claim also ends at
    its markers when text follows them (a digest line of quotes: "“A. B.” [1] … “C.” [2]" ->
    "“A.", "B.” [1]", "… “C.” [2]": each quote is checked against what it cites). Headings (a line
    ending in ':' with no citation, e.g. "What was said in the briefings:") and fragments
    without words (a lone "[1]") are not claims and are dropped."""
    lines = []
    for line in (text or "").splitlines():
        line = _BULLET.sub("", line).strip()
        if not line or (line.endswith(":") and not CITATION.search(line)):
            continue
        out = []
        for piece in _cut_after_markers(line):
            start, ends = 0, [m.end() for m in _SENT_END.finditer(piece)] + [len(piece)]
            for end in ends:
                part = piece[start:end].strip()
                if out and part and not tokens(strip_citations(part)) and CITATION.search(part):
                    out[-1] += " " + part   # markers alone belong to the sentence before them
                else:
                    out.append(part)
                start = end
        out = [x for x in out if tokens(strip_citations(x))]
        if out:
            lines.append(out)
    return lines


def _cut_after_markers(line: str) -> list[str]:
    cuts = [m.end() for m in _AFTER_MARKERS.finditer(line)]
    return [line[a:b] for a, b in zip([0] + cuts, cuts + [len(line)])]


def split_sentences(text: str) -> list[str]:
    """All claims of `split_lines`, in order."""
    return [s for line in split_lines(text) for s in line]


def cited_numbers(sentence: str) -> list[int]:
    """The [n] numbers a sentence cites, sorted (rag.lexicon reads the markers)."""
    return sorted(lexicon.cited_numbers(sentence))


def content_words(text: str) -> list[str]:
    return [t for t in tokens(strip_citations(text)) if t not in STOPWORDS]


def content_support(sentence: str, passages: Iterable[str], threshold: float = SUPPORT_THRESHOLD) -> bool:
    """Default support check: >= threshold of the sentence's content words occur in the passages."""
    words = content_words(sentence)
    if not words:
        return True  # nothing to support ("Yes." / a bare marker)
    have: set[str] = set()
    for p in passages:
        have.update(tokens(p))
    return sum(1 for w in words if w in have) / len(words) >= threshold


def faithfulness(answer: str, passages_by_n: dict[int, str],
                 supported: Optional[Callable[[str, list[str]], bool]] = None) -> Optional[float]:
    """Share of the answer's sentences supported by the passages they cite ([n] -> text).

    A sentence without a marker is covered by the next marker in the same line (a quote of
    several sentences, or "A. B [1]", is cited once at its end); a sentence with no marker
    after it in its line, or citing only unknown numbers, is unsupported. None for an answer
    with no sentences."""
    check = supported or content_support
    lines = split_lines(answer)
    if not lines:
        return None
    ok = total = 0
    for sents in lines:
        nums = [cited_numbers(s) for s in sents]
        for i, s in enumerate(sents):
            total += 1
            cite = next((n for n in nums[i:] if n), [])
            texts = [passages_by_n[n] for n in cite if n in passages_by_n]
            if texts and check(strip_citations(s).strip(), texts):
                ok += 1
    return ok / total


# ----------------------------------------------------------------------------- citations
_ELLIPSIS = re.compile(r"\.\.\.+|\u2026|\[\s*\.\.\.\s*\]")


def quote_in(quote: Optional[str], text: Optional[str]) -> bool:
    """Is the quote made of the text's words? Segments split at ellipses must each occur
    contiguously; a segment's first token may be the end of a word and its last token the
    start of one (quotes cut mid-word). An empty quote is not found."""
    t = tokens(text)
    segments = [tokens(seg) for seg in _ELLIPSIS.split(quote or "")]
    segments = [q for q in segments if q]
    if not segments or not t:
        return False
    for q in segments:
        n = len(q)
        found = False
        for i in range(len(t) - n + 1):
            w = t[i:i + n]
            if n == 1:
                found = q[0] in w[0]
            else:
                found = (w[0].endswith(q[0]) and w[-1].startswith(q[-1]) and w[1:-1] == q[1:-1])
            if found:
                break
        if not found:
            return False
    return True


def citation_relevant(citation_path: Optional[str], passage_text: Optional[str], gold_file: str, evidence: str) -> bool:
    """A citation counts for precision when its passage is from the gold briefing and
    contains the evidence (same rule as a relevant hit)."""
    return file_matches(citation_path, gold_file) and contains_evidence(evidence, passage_text)


def citation_attribution_ok(citation_speaker: Optional[str], quote: Optional[str],
                            passage_speaker: Optional[str], passage_text: Optional[str],
                            gold_speaker: Optional[str] = None, matches_evidence: bool = False) -> bool:
    """Is the citation's speaker the person whose words it quotes?

    Correct when (a) the citation names the speaker of the cited passage, (b) its quote
    is made of that speaker's words (contiguous in the passage text, not in the question
    it answers; an empty quote is not checked), and (c) when the citation matches the
    gold evidence, the speaker is also the gold speaker. No passage -> not correct."""
    if passage_text is None or not same_speaker(citation_speaker, passage_speaker):
        return False
    if tokens(quote) and not quote_in(quote, passage_text):
        return False
    if matches_evidence and gold_speaker and not same_speaker(citation_speaker, gold_speaker):
        return False
    return True


# ----------------------------------------------------------------------------- sets
def precision_recall(tp: int, predicted: int, actual: int) -> tuple[Optional[float], Optional[float]]:
    """(precision, recall), None where the denominator is 0."""
    return (tp / predicted if predicted else None, tp / actual if actual else None)


def mean(values: Iterable[Optional[float]]) -> Optional[float]:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    """Linear-interpolated percentile (same as numpy's default), q in [0, 100]; None when empty."""
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    if len(vals) == 1:
        return float(vals[0])
    pos = (len(vals) - 1) * q / 100.0
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(vals) - 1)
    return float(vals[lo] + (vals[hi] - vals[lo]) * (pos - lo))


def order_ranked(items: Sequence, score: Callable[[object], float], key: Callable[[object], str]) -> list:
    """Ranked items sorted by score (descending, rounded to 1e-6 so float noise cannot reorder
    them), ties broken by `key` ascending: the same input always gives the same order."""
    return sorted(items, key=lambda x: (-round(float(score(x)), 6), key(x)))
