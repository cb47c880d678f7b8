"""Answers: a question -> evidence -> gate -> attributed digest -> checked model summary -> cited `Answer`.
Takes a retriever (an Index) and a question; gives typed events and the `Answer` (rag.answer.pipeline).
"""
from rag.answer.events import Done, Event, Passages, Status, Text
from rag.answer.pipeline import Retriever, ask, ask_stream

__all__ = ["Done", "Event", "Passages", "Retriever", "Status", "Text", "ask", "ask_stream"]
