"""briefing-rag: cited question answering over press briefing transcripts.
Takes nothing on import (the index stack loads when `Index` is first used); gives `Index` and the typed records.

    from rag import Index
    index = Index.build(["data/briefings"], path="index/")
    hits = index.search("what did officials say about North Korea?")
    answer = index.ask("what did officials say about North Korea?")
    survey = index.survey("North Korea", speaker="Blinken")   # every briefing, dated and attributed
"""
from rag.records import Answer, Chunk, Citation, Hit, Statement, Survey, Transcript, Turn

__all__ = ["Index", "Answer", "Chunk", "Citation", "Hit", "Statement", "Survey", "Transcript", "Turn"]


def __getattr__(name):  # import the heavy parts (torch, faiss) only when asked for
    if name == "Index":
        from rag.indexing.index import Index
        return Index
    raise AttributeError(name)
