"""Transcript -> speaker-aware Chunks sized to the embedding model's window.
Takes a `Transcript` (and the model's tokenizer); gives `Chunk`s and the text each one is embedded as.

- A chunk holds one speaker's words: `chunk.text` is an exact substring of that speaker's turn.
- An answer carries the question it answers (the questioner's preceding turn, skipping
  moderator/operator interjections) in `chunk.question`, labelled `chunk.question_speaker` -
  context for embedding and display, never part of `chunk.text`.
- Long turns are split at sentence boundaries, with the previous chunk's last sentence
  repeated as overlap. Sizes are measured in the embedding model's word pieces:
  `embedding_text(chunk)` (question tail + speaker label + words) always fits `max_tokens`
  including [CLS]/[SEP].
- chunk_id = hash(doc_id, turn position, part, text): re-chunking an unchanged file gives the same ids.

CHUNKER_VERSION covers parsing too (rag.ingest.turns / rag.ingest.cleanup): bump it whenever chunks change.
"""
from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import Optional

from rag.errors import RagError
from rag.lexicon import sentence_spans
from rag.records import MODERATOR, OPERATOR, QUESTIONER, UNATTRIBUTED, Chunk, Transcript, Turn
from rag.resources import default_embedding_model_path, word_pieces

CHUNKER_VERSION = "4"  # 4: the speaker a title names for a text with no labels (rag.ingest.bylines)

@lru_cache(maxsize=1)
def default_tokenizer():
    """The bundled all-MiniLM-L6-v2 word-piece tokenizer (rag.resources.word_pieces), loaded once."""
    raw = word_pieces(default_embedding_model_path())
    if raw is None:
        raise RagError(f"the bundled embedding model folder {default_embedding_model_path()} has no tokenizer.json")
    return raw


class Chunker:
    """`Chunker().chunk(transcript) -> list[Chunk]`; `embedding_text(chunk)` is what gets embedded."""

    def __init__(self, tokenizer=None, max_tokens: int = 256, target_tokens: int = 200,
                 question_tokens: int = 48):
        self.tokenizer = tokenizer if tokenizer is not None else default_tokenizer()
        self.max_tokens = max_tokens
        self.target_tokens = target_tokens
        self.question_tokens = question_tokens
        self._labels: dict[Optional[str], int] = {}
        self._backend = _raw_backend(self.tokenizer)
        if self._backend is self.tokenizer:   # a `tokenizers.Tokenizer` (the default)
            self.special = self._backend.post_processor.num_special_tokens_to_add(False)
        else:                                 # a transformers tokenizer (another embedding model)
            self.special = self.tokenizer.num_special_tokens_to_add(pair=False)

    # ---- sizes ----
    def count(self, text: str) -> int:
        """Word pieces of `text` without special tokens."""
        return self._counts([text])[0]

    def _counts(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        if self._backend is not None:  # the Rust tokenizer directly: same pieces, far less per-call overhead
            return [len(e.ids) for e in self._backend.encode_batch(texts, add_special_tokens=False)]
        return [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]

    def _label_count(self, speaker: Optional[str]) -> int:
        if speaker not in self._labels:
            self._labels[speaker] = self.count(_label(speaker)) if speaker else 0
        return self._labels[speaker]

    # ---- chunking ----
    def chunk(self, transcript: Transcript) -> list[Chunk]:
        turns = transcript.turns
        questions = [_question_for(turns, i) for i in range(len(turns))]
        budgets = []
        for turn, question in zip(turns, questions):
            budget = self.max_tokens - self.special - self._label_count(turn.speaker) - 1
            if question is not None:
                budget -= self.question_tokens + self._label_count(question.speaker) + 1
            budgets.append(min(budget, self.target_tokens))
        # a word piece covers at least one character: a turn with fewer non-space characters than its
        # budget fits without measuring; the rest is measured sentence by sentence, in one tokenizer call
        short = [len(t.text) - t.text.count(" ") - t.text.count("\n") <= b for t, b in zip(turns, budgets)]
        spans = [[] if ok else sentence_spans(t.text) for t, ok in zip(turns, short)]
        counts = iter(self._counts([t.text[s:e] for t, sp in zip(turns, spans) for s, e in sp]))
        chunks: list[Chunk] = []
        for turn, question, budget, ok, sp in zip(turns, questions, budgets, short, spans):
            pieces = [(0, len(turn.text))] if ok else self._split(turn.text, [(s, e, next(counts)) for s, e in sp],
                                                                  budget)
            for part, (s, e) in enumerate(pieces):
                text = turn.text[s:e]
                chunks.append(Chunk(
                    chunk_id=_chunk_id(transcript.doc_id, turn.position, part, text),
                    doc_id=transcript.doc_id, path=transcript.path, title=transcript.title, date=transcript.date,
                    source_url=transcript.source_url, publisher=transcript.publisher, kind=transcript.kind,
                    speaker=turn.speaker, role=turn.role, text=text,
                    question=question.text if question else None,
                    question_speaker=question.speaker if question else None,
                    turn=turn.position, part=part, parts=len(pieces)))
        return chunks

    def _split(self, text: str, sentences: list[tuple[int, int, int]], budget: int) -> list[tuple[int, int]]:
        """Character spans of the pieces of `text`, each <= budget word pieces, split at sentences."""
        units = []  # (start, end, tokens): sentences, and word runs of over-long sentences
        for s, e, n in sentences:
            units.extend([(s, e, n)] if n <= budget else self._word_runs(text, s, e, budget))
        # balanced pieces: a 260-token turn becomes two of ~130, not one of 200 and a 60-token tail
        whole = sum(u[2] for u in units)
        n = -(-whole // budget)
        target = min(budget, -(-whole // n) + budget // 4) if n > 1 else budget  # slack for the overlap
        pieces: list[tuple[int, int]] = []
        i = 0
        while i < len(units):
            start, total, j = i, 0, i
            while j < len(units) and (total + units[j][2] <= target or j == start):
                total += units[j][2]
                j += 1
            pieces.append((units[start][0], units[j - 1][1]))
            if j >= len(units):
                break
            # overlap: repeat the last sentence when it is short and the next piece still gains a unit
            last = units[j - 1]
            i = j - 1 if (j - 1 > start and last[2] <= budget // 4 and last[2] + units[j][2] <= target) else j
        return pieces

    def _word_runs(self, text: str, s: int, e: int, budget: int) -> list[tuple[int, int, int]]:
        words = [(m.start() + s, m.end() + s) for m in re.finditer(r"\S+", text[s:e])]
        counts = self._counts([text[a:b] for a, b in words])
        runs, a, total = [], None, 0
        for k, ((ws, we), n) in enumerate(zip(words, counts)):
            if a is not None and total + n > budget:
                runs.append((a, words[k - 1][1], total))
                a, total = None, 0
            if a is None:
                a = ws
            total += n
        if a is not None:
            runs.append((a, words[-1][1], total))
        return runs

    # ---- what gets embedded ----
    def embedding_text(self, chunk: Chunk) -> str:
        """Question tail (if any) + "SPEAKER: words", guaranteed to fit max_tokens word pieces."""
        body = f"{_label(chunk.speaker)}{chunk.text}"
        if not chunk.question:
            return self._fit(body)
        q_tail = self._tail(chunk.question, self.question_tokens)
        text = f"{_label(chunk.question_speaker)}{q_tail}\n{body}"
        return text if self.count(text) + self.special <= self.max_tokens else self._fit(body)

    def _offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of each word piece of `text` (no special tokens)."""
        if self._backend is not None:
            return self._backend.encode(text, add_special_tokens=False).offsets
        return self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]

    def _tail(self, text: str, n: int) -> str:
        offsets = self._offsets(text)
        if len(offsets) <= n:
            return text
        start = offsets[-n][0]
        while 0 < start < len(text) and not text[start - 1].isspace():  # begin at a word boundary
            start += 1
        return "… " + text[start:].lstrip()

    def _fit(self, text: str) -> str:
        offsets = self._offsets(text)
        limit = self.max_tokens - self.special
        return text if len(offsets) <= limit else text[:offsets[limit - 1][1]]


def _raw_backend(tokenizer):
    """A copy of a fast tokenizer's Rust backend without padding or truncation (for counting), or None;
    a `tokenizers.Tokenizer` (already without them: `default_tokenizer`) is its own backend."""
    from tokenizers import Tokenizer

    if isinstance(tokenizer, Tokenizer):
        return tokenizer
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None

    raw = Tokenizer.from_str(backend.to_str())
    raw.no_padding()
    raw.no_truncation()
    return raw


def _label(speaker: Optional[str]) -> str:
    return f"{speaker}: " if speaker else ""


def _question_for(turns: list[Turn], i: int) -> Optional[Turn]:
    """The questioner's turn this turn answers: the previous turn, skipping moderator/operator ones."""
    if turns[i].role in (QUESTIONER, UNATTRIBUTED):
        return None
    for j in range(i - 1, max(-1, i - 4), -1):
        if turns[j].role == QUESTIONER:
            return turns[j]
        if turns[j].role not in (MODERATOR, OPERATOR):
            return None
    return None


def _chunk_id(doc_id: str, turn: int, part: int, text: str) -> str:
    return hashlib.sha256(f"{doc_id}\x1f{turn}\x1f{part}\x1f{text}".encode("utf-8")).hexdigest()[:32]


def embedding_text(chunk: Chunk, chunker: Optional[Chunker] = None) -> str:
    """Module-level shortcut with the default 256-token chunker."""
    return (chunker or _default_chunker()).embedding_text(chunk)


@lru_cache(maxsize=1)
def _default_chunker() -> Chunker:
    return Chunker()
