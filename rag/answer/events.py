"""Typed events of an answer as it forms; the UI, the CLI, `ask` and the bench all read these.
Takes nothing; gives the event classes `ask_stream` yields, in order: Status*, Passages, Text*, Done.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from rag.records import Answer, Hit


@dataclass(frozen=True)
class Status:
    """Progress, optional to show: "searching", "writing" or "checking"."""
    text: str


@dataclass(frozen=True)
class Passages:
    """What the answer is drawn from, and the question as searched (rewritten for a follow-up)."""
    passages: list[Hit]
    search_query: str


@dataclass(frozen=True)
class Text:
    """Checked answer text: the concatenated texts are exactly `Answer.answer`; only verified text is sent,
    each model sentence whole, once it has passed the check."""
    text: str


@dataclass(frozen=True)
class Done:
    """The finished answer; always the last event."""
    answer: Answer


Event = Union[Status, Passages, Text, Done]
