"""Follow-up questions made standalone with the conversation history ("and what about China?").
Takes a question, the history and optionally a language model; gives the question to search with.
"""
from __future__ import annotations

import re
from typing import Sequence

from rag.answer import prompting
from rag.errors import RagError
from rag.lexicon import content_stems, content_words
from rag.llm import ModelUnavailable

_FOLLOWUP = re.compile(r"^\s*(?:and|but|also|so|what about|how about|what else|and what|same|why|how so)\b", re.I)
_PRONOUN = re.compile(r"\b(it|its|they|them|their|that|this|those|these|he|she|his|her|there|him)\b", re.I)
_ABOUT = re.compile(r"^(.*?\b(?:about|on|regarding|concerning|for|with)\s+)(.+?)\s*[?.!]*\s*$", re.I)
_WHAT_ABOUT = re.compile(r"^\s*(?:and\s+|but\s+|so\s+)?(?:what|how)\s+about\s+(.+?)\s*[?.!]*\s*$", re.I)


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
        except ModelUnavailable:
            raise           # the caller answers without the model (and says so)
        except RagError:
            out = ""
        if _plausible_rewrite(out, question, earlier):
            return out
    return rewrite_fallback(question, earlier[-1])


def _plausible_rewrite(out: str, question: str, earlier: Sequence[str]) -> bool:
    """A model rewrite is used only if it keeps the new words and invents none."""
    if not out or len(out) > 250 or out.strip().lower() == question.strip().lower():
        return False
    allowed = content_stems(" ".join([question, *earlier]))
    said = content_stems(out)
    new = content_stems(question)
    return bool(said) and said <= allowed and new <= said
