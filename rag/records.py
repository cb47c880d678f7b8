"""Typed records passed between the pipeline's stages.
Takes nothing; gives Transcript, Turn, Chunk, Hit, Citation, ModelUse and Answer (JSON round-trip: to_dict / from_dict).

files -> Transcript (metadata + Turns) -> Chunk -> (index) -> Hit -> Answer (Citations)

Every record is a plain dataclass that round-trips through JSON (`to_dict` /
`from_dict`), so the on-disk chunk store and the CLI's `--json` output use the
same field names.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Optional

# Speaker roles. A chunk's role is the role of the person whose words it holds.
OFFICIAL = "official"      # SECRETARY BLINKEN, MS. PSAKI, SENIOR ADMINISTRATION OFFICIAL, THE PRESIDENT ...
QUESTIONER = "questioner"  # QUESTION, Q, reporters
MODERATOR = "moderator"    # MODERATOR
OPERATOR = "operator"      # OPERATOR
OTHER = "other"            # AUDIENCE, PARTICIPANT, named guests whose office we cannot tell
UNATTRIBUTED = "unattributed"  # text before the first speaker label: nobody is invented for it
ROLES = (OFFICIAL, QUESTIONER, MODERATOR, OPERATOR, OTHER, UNATTRIBUTED)

# Publishers and kinds of document.
STATE = "State Department"
WHITE_HOUSE = "White House"
KINDS = ("press briefing", "background call", "gaggle", "interview", "remarks", "statement", "other")


class _Record:
    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Turn(_Record):
    """One speaker's uninterrupted words, in order of the transcript."""
    position: int               # 0-based index of the turn in its transcript
    speaker: Optional[str]      # label as printed, without the colon: "SECRETARY BLINKEN"; None when unlabelled
    role: str                   # one of ROLES
    text: str                   # clean text: paragraphs joined by "\n\n", hard wraps undone


@dataclass
class Transcript(_Record):
    """A parsed briefing: metadata and its speaker turns."""
    doc_id: str                 # sha256 of the clean turn text (identical documents share it)
    path: str                   # source file path as ingested
    title: str
    date: Optional[str]         # ISO YYYY-MM-DD, or None when the file does not say (never invented)
    source_url: Optional[str]
    publisher: Optional[str]    # STATE, WHITE_HOUSE or None
    kind: str                   # one of KINDS
    place: Optional[str] = None   # "Via Teleconference", "James S. Brady Press Briefing Room"
    time: Optional[str] = None    # "2:59 P.M. EDT"
    content_hash: str = ""      # sha256 of the raw file bytes (for incremental re-ingest)
    turns: list[Turn] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Transcript":
        t = super().from_dict(d)
        t.turns = [Turn.from_dict(x) if isinstance(x, dict) else x for x in t.turns]
        return t


@dataclass
class Chunk(_Record):
    """A piece of one speaker's turn, sized to the embedding model's window.

    `text` holds only the speaker's words. When the speaker is answering a
    question, `question` holds the questioner's words (context for embedding
    and display, never attributed to `speaker`).
    """
    chunk_id: str               # stable: hash of doc_id + turn position + part + text
    doc_id: str
    path: str
    title: str
    date: Optional[str]
    source_url: Optional[str]
    publisher: Optional[str]
    kind: str
    speaker: Optional[str]
    role: str
    text: str
    question: Optional[str]     # the question this turn answers, or None
    question_speaker: Optional[str] = None  # label of who asked it ("QUESTION", "Q", "MR. SORKIN")
    turn: int = 0               # position of the turn in the transcript
    part: int = 0               # index of this chunk within its turn
    parts: int = 1              # number of chunks the turn was split into


@dataclass
class Hit(Chunk):
    """A retrieved passage: its best chunk, with `text` widened to the neighbouring parts of the same turn
    listed in `shown_parts` (rag.retrieval.passages); its rank (1-based) and fused score."""
    rank: int = 0
    score: float = 0.0
    shown_parts: list[int] = field(default_factory=list)
    # False while an ingest has not embedded this passage yet: it was ranked by BM25 alone (the vectors of
    # an archive are embedded after its words are searchable; `rag ingest` / `rag serve` finish the job)
    dense: bool = True

    @classmethod
    def from_chunk(cls, chunk: Chunk, rank: int, score: float) -> "Hit":
        return cls(**chunk.to_dict(), rank=rank, score=float(score), shown_parts=[chunk.part])


@dataclass
class Citation(_Record):
    """What an answer's [n] resolves to: the cited words and who said them where."""
    n: int
    chunk_id: str
    path: str
    title: str
    date: Optional[str]
    source_url: Optional[str]
    speaker: Optional[str]
    quote: str                  # verbatim words of `speaker` supporting the sentence


@dataclass
class ModelUse(_Record):
    """Which language model wrote an answer's summary, how much of it passed the checker, or why it is missing."""
    name: str
    backend: str                # "transformers", "llama.cpp" or "server"
    sentences_read: int = 0     # complete sentences the model wrote before it was stopped
    sentences_shown: int = 0    # of those, the ones that passed the checker and were shown
    error: Optional[str] = None  # why the model's part is missing: its server unreachable, too slow ...


@dataclass
class Answer(_Record):
    question: str
    answer: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    passages: list[Hit] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # retrieve_s, first_token_s, total_s
    search_query: Optional[str] = None  # the question as rewritten with the conversation history
    model: Optional[ModelUse] = None    # None when no model ran (an abstention)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Answer":
        a = super().from_dict(d)
        a.citations = [Citation.from_dict(x) if isinstance(x, dict) else x for x in a.citations]
        a.passages = [Hit.from_dict(x) if isinstance(x, dict) else x for x in a.passages]
        if isinstance(a.model, dict):
            a.model = ModelUse.from_dict(a.model)
        return a
