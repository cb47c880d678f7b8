"""Typed records passed between the pipeline's stages.
Takes nothing; gives Transcript, Turn, Chunk, Hit, Citation, ModelUse, Answer and Survey (JSON: to_dict / from_dict).

files -> Transcript (metadata + Turns) -> Chunk -> (index) -> Hit -> Answer (Citations)
                                                          -> Survey (Statements, Periods, Threads)

Every record is a plain dataclass that round-trips through JSON (`to_dict` /
`from_dict`), so the on-disk chunk store and the CLI's `--json` output use the
same field names.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Optional

from rag import links

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


class _QuoteLinked:
    """A record quoting `quote` from the page at `source_url`: its `quote_url` is that page at the quote
    (rag.links), unless given."""
    def __post_init__(self):
        if self.quote_url is None:
            self.quote_url = links.quote_url(self.source_url, self.quote)


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
    speaker: Optional[str]      # label as printed, without the colon: "SECRETARY BLINKEN"; for a text with no
                                # label, the one speaker its title names ("Remarks by ..."); else None
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
        # a chunk's fields are flat (strings and numbers): read one by one, not through `asdict`, whose deep copy
        # was a tenth of a hybrid search's time
        return cls(**{f.name: getattr(chunk, f.name) for f in fields(chunk)}, rank=rank, score=float(score),
                   shown_parts=[chunk.part])


@dataclass
class Citation(_QuoteLinked, _Record):
    """What an answer's [n] resolves to: the cited words and who said them where."""
    n: int
    chunk_id: str
    path: str
    title: str
    date: Optional[str]
    source_url: Optional[str]
    speaker: Optional[str]
    quote: str                  # verbatim words of `speaker` supporting the sentence
    # the page at the quote: `source_url` with a text fragment that browsers scroll to and highlight (rag.links)
    quote_url: Optional[str] = None


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


@dataclass
class Statement(_QuoteLinked, _Record):
    """One briefing where an official addresses a survey's topic: its best verbatim quote and who said it.
    `n` is its citation number ([n] in the survey's text), in date order."""
    n: int
    chunk_id: str               # the passage the quote is from
    doc_id: str
    path: str
    title: str
    date: Optional[str]
    source_url: Optional[str]
    publisher: Optional[str]
    kind: str
    speaker: Optional[str]      # who said the quote (turn label as printed)
    role: str
    quote: str                  # verbatim words of `speaker`, from one passage
    question: Optional[str] = None   # the reporter's question the quote answers, if any (never the speaker's words)
    score: float = 0.0          # relevance of the best passage (rag.survey.find)
    passages: int = 1           # passages of this briefing that address the topic
    speakers: list[str] = field(default_factory=list)   # every official of this briefing who addressed it
    thread: int = -1            # index into Survey.threads, -1 when in none
    quote_url: Optional[str] = None   # the page at the quote (rag.links), as for a Citation

    def citation(self) -> Citation:
        return Citation(self.n, self.chunk_id, self.path, self.title, self.date, self.source_url, self.speaker,
                        self.quote, self.quote_url)


@dataclass
class Period(_Record):
    """A month or quarter of a survey's timeline and the statements (their `n`) made in it."""
    label: str                  # "2023-02" (month), "2023 Q1" (quarter), or "date not given"
    start: Optional[str]        # first day, ISO; None for undated statements
    end: Optional[str]
    statements: list[int] = field(default_factory=list)


@dataclass
class Thread(_Record):
    """A sub-topic of a survey: statements whose quotes share words, labelled with words from those quotes."""
    label: str
    statements: list[int] = field(default_factory=list)


@dataclass
class SpeakerCount(_Record):
    speaker: str                # the label the speaker is most often printed with
    briefings: int              # briefings where this speaker addressed the topic


@dataclass
class Wording(_Record):
    """A shorter wording of a survey's topic that finds more briefings ("Buffalo shooting" for "Buffalo supermarket
    shooting"): officials often name part of a topic, which the survey does not count as the whole."""
    topic: str
    briefings: int


@dataclass
class Survey(_Record):
    """What officials said about a topic across the archive: overview, timeline, threads, who said it most."""
    topic: str
    overview: str               # one paragraph; each fact is from the statements, each quote cited [n]
    abstained: bool             # True when no briefing addresses the topic (then `overview` says so)
    statements: list[Statement] = field(default_factory=list)   # date order; statements[i].n == i + 1
    timeline: list[Period] = field(default_factory=list)
    threads: list[Thread] = field(default_factory=list)
    speakers: list[SpeakerCount] = field(default_factory=list)  # most briefings first
    granularity: str = "month"  # of the timeline: "month" or "quarter"
    filters: dict[str, Any] = field(default_factory=dict)       # as asked: speaker, publisher, kind, date_from, date_to
    timings: dict[str, float] = field(default_factory=dict)
    wordings: list[Wording] = field(default_factory=list)        # shorter wordings that find more (rag.survey.wording)

    @property
    def citations(self) -> list[Citation]:
        return [s.citation() for s in self.statements]

    def thread_label(self, statement: Statement) -> str:
        """The label of the thread `statement` belongs to, or "" when it is in none."""
        return self.threads[statement.thread].label if 0 <= statement.thread < len(self.threads) else ""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Survey":
        s = super().from_dict(d)
        s.statements = [Statement.from_dict(x) if isinstance(x, dict) else x for x in s.statements]
        s.timeline = [Period.from_dict(x) if isinstance(x, dict) else x for x in s.timeline]
        s.threads = [Thread.from_dict(x) if isinstance(x, dict) else x for x in s.threads]
        s.speakers = [SpeakerCount.from_dict(x) if isinstance(x, dict) else x for x in s.speakers]
        s.wordings = [Wording.from_dict(x) if isinstance(x, dict) else x for x in s.wordings]
        return s
