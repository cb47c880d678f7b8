"""Cited answers: retrieve, pick the supporting words, let the model frame them, verify, attribute.

Grounded by construction (the model is never trusted):

1. A follow-up question is rewritten with the conversation history (`rewrite_question`).
2. Retrieval: `index.search`; only passages holding an official's (or moderator's) words can back
   an answer; a reporter's question never can.
3. Evidence: the passages' sentences are scored against the question (embedding cosine + topic
   words). When the best one is below `RELEVANCE_MIN` (calibrated on the bundled sample:
   questions it answers vs topics it never mentions) the answer abstains and lists the closest
   passages instead of guessing.
4. The model writes one to three sentences citing [n] from labelled excerpts. Each sentence is
   checked by `rag.verify` as soon as it is complete; only supported sentences are shown.
5. An attributed digest follows: one bullet per speaker and briefing with their verbatim words
   and [n]. It is extractive, so it is right even when the model's text is all rejected.

Every [n] in `Answer.answer` resolves to `Answer.citations` (n = position in `Answer.passages`),
whose `quote` is a verbatim span of the cited chunk's text, spoken by `speaker`.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional, Sequence

import numpy as np

from rag import prompting
from rag.errors import RagError
from rag.records import Answer, Citation, Hit
from rag.verify import (STOP, PassageView, _stem, content_words, names, prepare, split_sentences, supporting, verify,
                        words)

# Abstention gate. Calibrated at 06:30 UTC on eval/gold_sample.jsonl (72 answerable, 13 absent items,
# retrieval + gate only; /tmp script reproduced in eval/bench_answer.py --calibrate): 9 answerable
# items abstain, 0 absent items are answered. To answer, all must hold:
RELEVANCE_MIN = 0.43      # best evidence score (cosine + topic words) of an official's sentence
COVERAGE_MIN = 0.3        # share of the question's topic words found in the passages (or the questions they answer)
# ... no name in the question is unknown to the whole index (Khashoggi, Xinjiang, Haiti: the index never
# mentions them), after mapping a capital used for its government ("Beijing" -> china) and ignoring months;
# ... and when a name is missing from the retrieved passages themselves, the evidence must be strong:
NAMES_MISSING_RELEVANCE = 0.58
ALIASES = {"washington": "u.s", "beijing": "china", "moscow": "russia", "kremlin": "russia", "pyongyang": "korea",
           "kyiv": "ukraine", "kiev": "ukraine", "taipei": "taiwan", "tehran": "iran", "tokyo": "japan",
           "seoul": "korea", "havana": "cuba", "minsk": "belarus", "ankara": "turkey", "delhi": "india"}
MONTHS = {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"}
EVIDENCE_MARGIN = 0.15    # digest keeps passages scoring within this of the best one
EVIDENCE_FLOOR = 0.40     # ... and never below this
LEXICAL_WEIGHT = 0.15     # weight of the share of topic words found in a sentence
MAX_DIGEST = 4            # bullets (passages) in the digest
MAX_LEAD = 2              # model sentences kept
MAX_SENTENCES = 3         # model sentences read before generation is stopped
MAX_NEW_TOKENS = 80        # two short sentences; ~7 s at the ~12 tokens/s of SmolLM2-135M on 2 cores
QUOTE_MAX_CHARS = 420
SEARCH_FACTOR = 3         # retrieve k * this, keep the first k passages that can back a claim

_FOLLOWUP = re.compile(r"^\s*(?:and|but|also|so|what about|how about|what else|and what|same|why|how so)\b", re.I)
_PRONOUN = re.compile(r"\b(it|its|they|them|their|that|this|those|these|he|she|his|her|there|him)\b", re.I)
_ABOUT = re.compile(r"^(.*?\b(?:about|on|regarding|concerning|for|with)\s+)(.+?)\s*[?.!]*\s*$", re.I)
_WHAT_ABOUT = re.compile(r"^\s*(?:and\s+|but\s+|so\s+)?(?:what|how)\s+about\s+(.+?)\s*[?.!]*\s*$", re.I)


# -- follow-ups ------------------------------------------------------------------
def needs_rewrite(question: str) -> bool:
    return bool(_FOLLOWUP.search(question) or _PRONOUN.search(question) or len(content_words(question)) <= 1)


def rewrite_fallback(question: str, previous: str) -> str:
    """Deterministic rewrite: 'and what about China?' after 'What did officials say about Russia?'
    -> 'What did officials say about China?'; otherwise the question plus the previous topic."""
    m = _WHAT_ABOUT.match(question)
    if m:
        p = _ABOUT.match(previous.strip())
        frame = p.group(1) if p else "What did officials say about "
        return f"{frame}{m.group(1)}?"
    p = _ABOUT.match(previous.strip())
    topic = p.group(2) if p else " ".join(content_words(previous))
    return f"{question.strip()} ({topic})" if topic else question.strip()


def rewrite_question(question: str, history, llm=None) -> str:
    """The question made standalone with the conversation history (unchanged when it already is)."""
    earlier = [u for u, _ in prompting.history_pairs(history) if u and u.strip()]
    if not earlier or not needs_rewrite(question):
        return question.strip()
    if llm is not None:
        try:
            out = prompting.clean_line(llm.generate(prompting.rewrite_messages(question, earlier[-3:]),
                                                    max_new_tokens=40))
        except RagError:
            out = ""
        if _plausible_rewrite(out, question, earlier):
            return out
    return rewrite_fallback(question, earlier[-1])


def _plausible_rewrite(out: str, question: str, earlier: Sequence[str]) -> bool:
    """A model rewrite is used only if it keeps the new words and invents none."""
    if not out or len(out) > 250 or out.strip().lower() == question.strip().lower():
        return False
    allowed = {_stem(w) for w in content_words(" ".join([question, *earlier]))}
    said = {_stem(w) for w in content_words(out)}
    new = {_stem(w) for w in content_words(question)}
    return bool(said) and said <= allowed and new <= said


# -- evidence --------------------------------------------------------------------
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


def score_evidence(question: str, views: list[PassageView], encode) -> list[Evidence]:
    """Best-supporting sentence of each passage that can back a claim, best first."""
    topic = topic_of(question)
    qv = encode([question, topic])
    stems = {_stem(w) for w in content_words(question)}
    found = []
    for v in views:
        if not supporting(v.hit) or not len(v.vectors):
            continue
        sims = np.max(v.vectors @ qv.T, axis=1)
        lex = np.array([len(stems & {_stem(w) for w in content_words(v.sentence(i))}) / max(1, len(stems))
                        for i in range(len(v.spans))])
        scores = sims + LEXICAL_WEIGHT * lex
        best = int(np.argmax(scores))
        start, end = v.spans[best]
        # extend a short sentence with the next one when that one is on topic too
        if best + 1 < len(v.spans) and (end - start) < 120 and scores[best + 1] >= scores[best] - 0.1 \
                and v.spans[best + 1][1] - start <= QUOTE_MAX_CHARS:
            end = v.spans[best + 1][1]
        found.append(Evidence(v.n, float(scores[best]), best, start, end))
    return sorted(found, key=lambda e: -e.score)


def topic_words(question: str) -> list[str]:
    m = re.search(r"\b(?:about|on|regarding|concerning)\s+(.+)$", question, re.I)
    return content_words(m.group(1) if m else question) or content_words(question)


def _vocabulary(hits) -> set[str]:
    vocab: set[str] = set()
    for h in hits:
        vocab |= set(words(" ".join(x for x in (h.text, h.question, h.speaker, h.title) if x)))
    return vocab


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


def coverage(question: str, passages: Sequence[Hit]) -> tuple[float, list[str]]:
    """(share of topic words found, names of the question found nowhere) in the passages.

    The question a passage answers counts here (it tells what the passage is about), never as support.
    """
    vocab = _vocabulary(passages)
    stems = {_stem(w) for w in vocab}
    tw = topic_words(question)
    share = sum(_stem(w) in stems for w in tw) / len(tw) if tw else 0.0
    return share, _absent_names(question, vocab.__contains__)


@dataclass
class Gate:
    relevance: float          # best evidence score
    coverage: float           # share of topic words found
    missing: list[str]        # names of the question found in none of the passages
    unknown: list[str] = field(default_factory=list)   # names of the question found nowhere in the index

    @property
    def ok(self) -> bool:
        if self.unknown or self.relevance < RELEVANCE_MIN or self.coverage < COVERAGE_MIN:
            return False
        return not self.missing or self.relevance >= NAMES_MISSING_RELEVANCE


def gate(question: str, passages: Sequence[Hit], evidence: list[Evidence], index=None) -> Gate:
    """Whether the passages cover the question well enough to answer (else: abstain)."""
    share, missing = coverage(question, passages)
    # the whole index: Index.mentions looks words up in its BM25 vocabulary and titles (no scan of every passage)
    unknown = _absent_names(question, index.mentions) if index is not None else []
    return Gate(evidence[0].score if evidence else 0.0, share, missing, unknown)


def select_digest(evidence: list[Evidence]) -> list[Evidence]:
    if not evidence:
        return []
    floor = max(EVIDENCE_FLOOR, evidence[0].score - EVIDENCE_MARGIN)
    return [e for e in evidence if e.score >= floor][:MAX_DIGEST]


def excerpt(view: PassageView, e: Evidence) -> str:
    """The evidence with one sentence of context on each side (verbatim) for the model."""
    a = view.spans[max(0, e.best - 1)][0]
    b = max(e.end, view.spans[min(len(view.spans) - 1, e.best + 1)][1])
    return view.hit.text[a:b]


# -- text ------------------------------------------------------------------------
def _quote(text: str) -> str:
    q = " ".join(text.split())
    if len(q) > QUOTE_MAX_CHARS:
        q = q[:QUOTE_MAX_CHARS].rsplit(" ", 1)[0] + " …"
    return q


def digest_lines(items: list[tuple[int, Hit, str]]) -> list[str]:
    """One bullet per (speaker, briefing): who said what, where, when, with [n]."""
    groups: dict[tuple, list[tuple[int, str]]] = {}
    order: list[tuple] = []
    for n, hit, quote in items:
        key = (hit.speaker, hit.doc_id)
        if key not in groups:
            groups[key], _ = [], order.append(key)
        groups[key].append((n, quote))
    hits = {(h.speaker, h.doc_id): h for _, h, _ in items}
    lines = []
    for key in order:
        h = hits[key]
        who = h.speaker or "Unattributed text"
        said = " … ".join(f"“{_quote(q)}” [{n}]" for n, q in groups[key])
        lines.append(f"- {who}, in “{h.title}” ({prompting.display_date(h.date)}): {said}")
    return lines


def _span(text: str, quotes: list[str]) -> str:
    """The shortest verbatim span of `text` holding all `quotes` (or the first quote when that is too long)."""
    spans = [(text.find(q), text.find(q) + len(q)) for q in quotes if q and text.find(q) >= 0]
    if not spans:
        return quotes[0] if quotes else ""
    a, b = min(s for s, _ in spans), max(e for _, e in spans)
    if b - a > QUOTE_MAX_CHARS + 200:
        a, b = spans[0]
    return text[a:b]


def _cited(text: str) -> list[int]:
    seen: list[int] = []
    for m in re.finditer(r"\[(\d+)\]", text):
        n = int(m.group(1))
        if n not in seen:
            seen.append(n)
    return seen


_FIRST_PERSON = re.compile(r"^\s*(?:i|we|our|my|us|i'm|we're|i’m|we’re|and|so|but|well|now|yes|no)\b", re.I)
_ATTRIBUTED = re.compile(r"\b(?:said|says|stated|noted|told|explained|according to|added|stressed|warned)\b", re.I)


def _useful_lead(text: str, question: str) -> bool:
    """A lead sentence must answer something: a statement, on the question's topic, not a fragment
    of spoken words that needs its context (those are better read as quotes in the digest)."""
    plain = re.sub(r"\s*\[\d+\]", "", text).strip()
    if plain.endswith("?") or _FIRST_PERSON.match(plain) or len(content_words(plain)) < 4:
        return False
    topic = {_stem(w) for w in topic_words(question)}
    return bool(topic & {_stem(w) for w in content_words(plain)})


def _attributed(text: str, cited: list[Hit]) -> str:
    """Say whose words back the sentence when the sentence does not ('According to MODERATOR, ...')."""
    speakers = {h.speaker for h in cited}
    if _ATTRIBUTED.search(text) or len(speakers) != 1 or None in speakers:
        return text
    word = text.split(" ", 1)[0]
    first = text[0].lower() + text[1:] if word.lower() in STOP else text   # "The talks" -> "the talks"
    return f"According to {cited[0].speaker}, {first}"


# -- the pipeline ----------------------------------------------------------------
def _encoder(index):
    emb = getattr(index, "embedder", None)
    if emb is None:
        from rag.embed import Embedder
        global _DEFAULT_EMBEDDER
        try:
            emb = _DEFAULT_EMBEDDER
        except NameError:
            emb = _DEFAULT_EMBEDDER = Embedder()
    return emb.encode


def _filters(filters: dict) -> dict:
    out = {}
    aliases = {"since": "date_from", "until": "date_to"}
    for key, value in filters.items():
        key = aliases.get(key, key)
        if key not in ("speaker", "publisher", "kind", "date_from", "date_to", "mode"):
            raise RagError(f"unknown filter {key!r}: use speaker, publisher, kind, date_from, date_to")
        if value is not None:
            out[key] = value
    return out


def _complete(buf: str, final: bool) -> tuple[list[str], int]:
    """Sentences of `buf` that are finished (a later sentence has begun), and how far they reach."""
    spans = split_sentences(buf)
    if final:
        return [buf[a:b] for a, b in spans], len(buf)
    done, upto = [], 0
    for (a, b), (c, d) in zip(spans, spans[1:]):
        nxt = buf[c:d]
        lead = re.match(r"^(?:\s*\[\d+(?:\s*,\s*\d+)*\])+", nxt)
        rest = nxt[lead.end():] if lead else nxt
        if not re.search(r"[A-Za-z]", rest):
            break
        done.append(buf[a:b] + (lead.group(0) if lead else ""))
        upto = c + (lead.end() if lead else 0)
    return done, upto


def ask(index, question: str, history=None, k: int = 5, model=None, **filters) -> Answer:
    """Answer `question` from `index` with citations; see `ask_stream` for the arguments."""
    answer = None
    for event in ask_stream(index, question, history=history, k=k, model=model, **filters):
        if event["type"] == "answer":
            answer = event["answer"]
    return answer


def ask_stream(index, question: str, history=None, k: int = 5, model=None, **filters) -> Iterator[dict]:
    """Answer `question`, yielding events as the answer forms (for the chat UI).

    Arguments: `history` is a list of (user, assistant) pairs or of {"role", "content"} messages;
    `k` passages; `model` a local GGUF file / transformers folder (default: bundled SmolLM2), or a
    loaded `rag.llm.LocalLLM`; `filters` are `index.search` filters (speaker, publisher, kind,
    date_from, date_to).

    Events, in order:
      {"type": "status", "text": "searching" | "writing" | "checking"}     progress, optional to show
      {"type": "passages", "passages": [Hit], "search_query": str}        what the answer is drawn from
      {"type": "token", "text": str}      checked answer text; concatenating every "token" text gives
                                          exactly `Answer.answer`. Only verified text is ever sent:
                                          each model sentence arrives whole, once it has passed the check.
      {"type": "answer", "answer": Answer}   always last
    """
    t0 = time.perf_counter()
    question = (question or "").strip()
    if not question:
        raise RagError("the question is empty")
    if not isinstance(k, int) or k < 1:
        raise RagError(f"k must be a positive whole number, not {k!r}")
    flt = _filters(filters)
    if model is not None and isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
        from rag.llm import resolve_model_path
        resolve_model_path(model)   # a bad --model path fails now, not only when an answer is written
    timings: dict[str, float] = {}
    llm = None

    def get_llm():
        nonlocal llm
        if llm is None:
            from rag.llm import LocalLLM, get_model
            t = time.perf_counter()
            llm = model if isinstance(model, LocalLLM) else get_model(model)
            timings["model_load_s"] = round(time.perf_counter() - t, 3)
        return llm

    yield {"type": "status", "text": "searching"}
    search_query = question
    if prompting.history_pairs(history) and needs_rewrite(question):
        search_query = rewrite_question(question, history, get_llm())
    t = time.perf_counter()
    hits = index.search(search_query, k=k * SEARCH_FACTOR, **flt)
    passages = [h for h in hits if supporting(h)][:k]
    encode = _encoder(index)
    views = prepare(passages, encode)
    evidence = score_evidence(search_query, views, encode) if passages else []
    timings["retrieve_s"] = round(time.perf_counter() - t, 3)
    yield {"type": "passages", "passages": passages, "search_query": search_query}

    if not gate(search_query, passages, evidence, index).ok:
        text = prompting.template("abstain")
        yield {"type": "token", "text": text}
        timings["total_s"] = round(time.perf_counter() - t0, 3)
        shown = passages or hits[:k]
        yield {"type": "answer", "answer": Answer(question, text, True, [], shown, timings,
                                                  search_query)}
        return

    # 1. The attributed digest first: verbatim quotes, known before the model runs, so the reader has
    #    checked text within a second of asking (the model adds at most a short summary after it).
    digest = select_digest(evidence)
    items = [(e.n, views[e.n - 1].hit, views[e.n - 1].hit.text[e.start:e.end]) for e in digest]
    text = prompting.template("digest_header") + "\n" + "\n".join(digest_lines(items))
    timings["first_text_s"] = round(time.perf_counter() - t0, 3)
    yield {"type": "token", "text": text}

    # 2. The model's summary: each sentence shown only once it has passed the check against the passages.
    llm = get_llm()
    yield {"type": "status", "text": "writing"}
    messages = prompting.answer_messages(
        search_query, [(e.n, views[e.n - 1].hit, excerpt(views[e.n - 1], e)) for e in sorted(digest, key=lambda e: e.n)])
    lead: list[str] = []
    lead_quotes: dict[int, list[str]] = {}
    lead_vecs: list[np.ndarray] = []
    buf, done, seen = "", 0, 0
    tg = time.perf_counter()
    stream = llm.stream(messages, max_new_tokens=MAX_NEW_TOKENS)
    try:
        finished = False
        while not finished:
            piece = next(stream, None)
            if piece is None:
                finished = True
            else:
                timings.setdefault("first_token_s", round(time.perf_counter() - t0, 3))
                buf += piece
            sents, upto = _complete(buf[done:], finished)
            done += upto
            for s in sents:
                seen += 1
                checked = verify(s, passages, encode, replace=False, views=views)
                if not checked.text or not _useful_lead(checked.text, search_query):
                    continue
                checked.text = _attributed(checked.text, [passages[n - 1] for n in _cited(checked.text)])
                vec = encode([checked.text])[0]
                if any(float(vec @ v) > 0.9 for v in lead_vecs):
                    continue  # the model repeating itself
                lead_vecs.append(vec)
                for c in checked.checks:
                    for n, q in c.quotes.items():
                        lead_quotes.setdefault(n, []).append(q)
                piece_text = (" " if lead else "\n\n" + prompting.template("summary_header") + "\n") + checked.text
                lead.append(checked.text)
                text += piece_text
                yield {"type": "token", "text": piece_text}
            if len(lead) >= MAX_LEAD or seen >= MAX_SENTENCES:
                break
    finally:
        stream.close()
    timings["generate_s"] = round(time.perf_counter() - tg, 3)

    # each citation's quote: the verbatim span holding the digest's words and the summary's checked words
    quote_of = {}
    for n in dict.fromkeys([e.n for e in digest] + list(lead_quotes)):
        hit = passages[n - 1]
        e = next((e for e in digest if e.n == n), None)
        quote_of[n] = _span(hit.text, ([hit.text[e.start:e.end]] if e else []) + lead_quotes.get(n, []))

    citations = []
    for n in sorted(_cited(text)):
        h = passages[n - 1]
        citations.append(Citation(n, h.chunk_id, h.path, h.title, h.date, h.source_url, h.speaker, quote_of[n]))
    timings["total_s"] = round(time.perf_counter() - t0, 3)
    yield {"type": "answer", "answer": Answer(question, text, False, citations, passages, timings,
                                              search_query)}
