"""The answer pipeline (wiring only): rewrite, retrieve, select evidence, gate, digest, model summary, verify.
Takes a `Retriever` (an Index) and a question; gives typed events (rag.answer.events) ending in an `Answer`.

Grounded by construction (the model is never trusted):

1. A follow-up question is rewritten with the conversation history (rag.answer.rewrite).
2. Retrieval: `retriever.search`; only passages holding an official's (or moderator's) words can back
   an answer; a reporter's question never can.
3. Evidence (rag.answer.evidence): the passages' sentences are scored against the question; when
   the gate says the passages do not cover it, the answer abstains and lists the closest passages.
4. The attributed digest (rag.answer.digest): one bullet per speaker and briefing with their
   verbatim words and [n], shown before the model runs.
5. The model (rag.llm: local or a server) writes at most a short summary citing [n]; each sentence is
   checked by rag.answer.verify as soon as it is complete, and only supported sentences are shown.
   A model server that is down or too slow costs the summary, never the checked digest: the answer
   says so in one line (`Answer.model.error`).

Every [n] in `Answer.answer` resolves to `Answer.citations` (n = position in `Answer.passages`),
whose `quote` is a verbatim span of the cited chunk's text, spoken by `speaker`.
"""
from __future__ import annotations

import re
import time
from typing import Callable, Iterator, Optional, Protocol

import numpy as np

from rag.answer import prompting
from rag.answer.digest import attributed, digest_header, digest_lines, quote_span, useful_lead
from rag.answer.events import Done, Event, Passages, Status, Text
from rag.answer.evidence import excerpt, gate, score_evidence, select_digest
from rag.answer.rewrite import needs_rewrite, rewrite_question
from rag.answer.verify import adds_what_a_passage_says, prepare, supporting, verify
from rag.encoders import Encoder
from rag.errors import RagError
from rag.lexicon import LEADING_CITATIONS, cited_numbers, content_stems, split_sentences
from rag.llm import ChatModel, ModelUnavailable, check_model, get_model
from rag.records import Answer, Citation, Hit, ModelUse
from rag.settings import current


class Retriever(Protocol):
    """What an answer needs of an index: search, a whole-index vocabulary lookup with word rarity, and its
    encoder."""
    embedder: Encoder

    def search(self, query: str, k: int = 5, **filters) -> list[Hit]: ...

    def mentions(self, word: str) -> bool: ...

    def rarity(self, text: str) -> dict[str, float]: ...


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
        lead = LEADING_CITATIONS.match(nxt)
        rest = nxt[lead.end():] if lead else nxt
        if not re.search(r"[A-Za-z]", rest):
            break
        done.append(buf[a:b] + (lead.group(0) if lead else ""))
        upto = c + (lead.end() if lead else 0)
    return done, upto


def gather(retriever: Retriever, query: str, k: int, **filters):
    """(hits, passages, views, evidence): search k * search_factor hits, keep the first k passages that can back
    a claim, prepare them for checking and score each one's best sentence (what the gate and digest read)."""
    hits = retriever.search(query, k=k * current().answer.search_factor, **filters)
    passages = [h for h in hits if supporting(h)][:k]
    encode = retriever.embedder.encode
    views = prepare(passages, encode)
    return hits, passages, views, (score_evidence(query, views, encode, retriever.rarity) if passages else [])


def ask(retriever: Retriever, question: str, history=None, k: int = 5, model=None, **filters) -> Answer:
    """Answer `question` from `retriever` (an Index) with citations; see `ask_stream` for the arguments."""
    answer = None
    for event in ask_stream(retriever, question, history=history, k=k, model=model, **filters):
        if isinstance(event, Done):
            answer = event.answer
    return answer


def ask_stream(retriever: Retriever, question: str, history=None, k: int = 5, model=None, **filters
               ) -> Iterator[Event]:
    """Answer `question`, yielding events as the answer forms (for the chat UI).

    Arguments: `history` is a list of (user, assistant) pairs or of {"role", "content"} messages;
    `k` passages; `model` a local GGUF file or transformers folder, an OpenAI-compatible server URL
    (http://HOST:PORT/v1) or a loaded `rag.llm.ChatModel` (default: settings.answer.llm_url, else the
    bundled SmolLM2); `filters` are `index.search` filters (speaker, publisher, kind,
    date_from, date_to).

    Events (rag.answer.events), in order: Status ("searching" | "writing" | "checking"; optional to show),
    Passages (what the answer is drawn from), Text (checked answer text: all Text events together are
    exactly `Answer.answer`), Done (the Answer; always last).
    """
    t0 = time.perf_counter()
    question = (question or "").strip()
    if not question:
        raise RagError("the question is empty")
    if not isinstance(k, int) or k < 1:
        raise RagError(f"k must be a positive whole number, not {k!r}")
    flt = _filters(filters)
    cfg = current().answer
    check_model(model)   # a bad --model path or --llm URL fails now, not only when an answer is written
    timings: dict[str, float] = {}
    llm = None

    def get_llm() -> ChatModel:
        nonlocal llm
        if llm is None:
            t = time.perf_counter()
            llm = get_model(model)
            timings["model_load_s"] = round(time.perf_counter() - t, 3)
        return llm

    yield Status("searching")
    search_query = question
    model_down = None   # a model server that failed once is not asked again for this answer
    if prompting.history_pairs(history) and needs_rewrite(question):
        try:
            search_query = rewrite_question(question, history, get_llm())
        except ModelUnavailable as e:
            model_down = e
            search_query = rewrite_question(question, history, None)
    t = time.perf_counter()
    hits, passages, views, evidence = gather(retriever, search_query, k, **flt)
    encode = retriever.embedder.encode
    timings["retrieve_s"] = round(time.perf_counter() - t, 3)
    yield Passages(passages, search_query)

    if not gate(search_query, passages, evidence, retriever.mentions).ok:
        text = prompting.template("abstain")
        yield Text(text)
        timings["total_s"] = round(time.perf_counter() - t0, 3)
        yield Done(Answer(question, text, True, [], passages or hits[:k], timings, search_query))
        return

    # 1. The attributed digest first: verbatim quotes, known before the model runs, so the reader has
    #    checked text within a second of asking (the model adds at most a short summary after it).
    digest = select_digest(evidence)
    items = [(e.n, views[e.n - 1].hit, views[e.n - 1].hit.text[e.start:e.end]) for e in digest]
    text = digest_header(search_query, [q for _, _, q in items]) + "\n" + "\n".join(digest_lines(items))
    timings["first_text_s"] = round(time.perf_counter() - t0, 3)
    yield Text(text)

    # 2. The model's summary: each sentence shown only once it has passed the check against the passages.
    llm = get_llm()
    use = ModelUse(llm.name, llm.backend)
    yield Status("writing")
    messages = prompting.answer_messages(
        search_query, [(e.n, views[e.n - 1].hit, excerpt(views[e.n - 1], e)) for e in sorted(digest, key=lambda e: e.n)])
    lead_quotes: dict[int, list[str]] = {}
    tg = time.perf_counter()
    try:
        if model_down:
            raise model_down
        for piece_text in _summary(llm.stream(messages, max_new_tokens=cfg.max_new_tokens), search_query, passages,
                                   views, encode, lead_quotes, use, lambda: _first_token(timings, t0, tg),
                                   {e.n: (e.start, e.end) for e in digest}):
            text += piece_text
            yield Text(piece_text)
    except ModelUnavailable as e:   # the checked digest stands alone; say why in one line
        use.error = str(e)
        note = "\n\n" + prompting.fill("model_unavailable", reason=str(e))
        text += note
        yield Text(note)
    use.name = llm.name   # a server's model is named once it has been asked
    timings["generate_s"] = round(time.perf_counter() - tg, 3)
    citations = _citations(text, passages, digest, lead_quotes)
    timings["total_s"] = round(time.perf_counter() - t0, 3)
    yield Done(Answer(question, text, False, citations, passages, timings, search_query, use))


def _first_token(timings: dict[str, float], t0: float, tg: float) -> None:
    """first_token_s: from the question; model_first_token_s: from the prompt sent (the model reading it)."""
    if "first_token_s" not in timings:
        now = time.perf_counter()
        timings["first_token_s"] = round(now - t0, 3)
        timings["model_first_token_s"] = round(now - tg, 3)


def _summary(stream, question: str, passages: list[Hit], views, encode, lead_quotes: dict[int, list[str]],
             use: ModelUse, first_token: Callable[[], object],
             quoted: Optional[dict[int, tuple[int, int]]] = None) -> Iterator[str]:
    """The model's checked lead sentences as text pieces (header first); `lead_quotes` gathers the passage
    words each one was checked against, `use` counts sentences read and shown. Stops after `max_lead`
    kept or `max_sentences` read. With `quoted` (passage n -> the span the digest quotes), a sentence is shown
    only when the words backing it are within the digest's quotes: "In short:" sums up the quotes above it, not
    a sentence of their context the model was also given (gold_sample s005: the $64 million asked for is quoted,
    and the model wrote what an official said about China's Afghan reserves)."""
    cfg = current().answer
    lead: list[str] = []
    lead_vecs: list[np.ndarray] = []
    lead_words: list[set[str]] = []
    buf, done, seen = "", 0, 0
    try:
        finished = False
        while not finished:
            piece = next(stream, None)
            if piece is None:
                finished = True
            else:
                first_token()
                buf += piece
            sents, upto = _complete(buf[done:], finished)
            done += upto
            for s in sents:
                seen += 1
                use.sentences_read = seen
                checked = verify(s, passages, encode, replace=False, views=views)
                cited = cited_numbers(checked.text or "")
                if not checked.text or not useful_lead(checked.text, question) or \
                        not adds_what_a_passage_says(checked.text, question, views, cited) or \
                        (quoted is not None and not _within_quotes(checked, passages, quoted)):
                    continue
                checked.text = attributed(checked.text, [passages[n - 1] for n in cited])
                vec = encode([checked.text])[0]
                mine = content_stems(checked.text)
                if any(float(vec @ v) > 0.9 for v in lead_vecs) or any(mine <= w for w in lead_words):
                    continue  # the model repeating itself, or a piece of what it said ("..., so it [1].")
                lead_vecs.append(vec)
                lead_words.append(mine)
                for c in checked.checks:
                    for n, q in c.quotes.items():
                        lead_quotes.setdefault(n, []).append(q)
                yield (" " if lead else "\n\n" + prompting.template("summary_header") + "\n") + checked.text
                lead.append(checked.text)
                use.sentences_shown = len(lead)
            if len(lead) >= cfg.max_lead or seen >= cfg.max_sentences:
                break
    finally:
        stream.close()


def _within_quotes(checked, passages: list[Hit], quoted: dict[int, tuple[int, int]]) -> bool:
    """Every passage sentence backing the checked text overlaps the digest's quote of that passage."""
    backing = [(n, q) for c in checked.checks for n, q in c.quotes.items()]
    for n, q in backing:
        span = quoted.get(n)
        start = passages[n - 1].text.find(q)
        if span is None or start < 0 or start >= span[1] or start + len(q) <= span[0]:
            return False
    return bool(backing)


def _citations(text: str, passages: list[Hit], digest, lead_quotes: dict[int, list[str]]) -> list[Citation]:
    """One Citation per [n] of `text`; its quote is the verbatim span holding the digest's words and the
    summary's checked words."""
    quote_of = {}
    for n in dict.fromkeys([e.n for e in digest] + list(lead_quotes)):
        hit = passages[n - 1]
        e = next((e for e in digest if e.n == n), None)
        quote_of[n] = quote_span(hit.text, ([hit.text[e.start:e.end]] if e else []) + lead_quotes.get(n, []))
    return [Citation(n, h.chunk_id, h.path, h.title, h.date, h.source_url, h.speaker, quote_of[n])
            for n, h in ((n, passages[n - 1]) for n in sorted(cited_numbers(text)))]
