"""Prompt building: templates from prompts/, numbered and labelled passages, conversation history.
Takes a question, passages and history; gives the chat messages the language model reads.

Templates are plain text files in `prompts/` (next to the `rag` package) with `{name}` fields
filled by `str.format`. A passage is shown to the model as

    Passage [2], words of SECRETARY BLINKEN, Secretary Blinken at Reuters NEXT, 2021-12-03:
    (Asked by a reporter; the reporter's words, not the speaker's: "...")
    the speaker's words

so the reporter's question, when given as context, is marked as the reporter's words.
Set RAG_PROMPTS_DIR (settings.answer.prompts_dir) to use another folder of templates.
"""
from __future__ import annotations

import re
from typing import Iterable, Optional, Sequence

from rag.errors import RagError
from rag.records import Hit
from rag.resources import prompt_location, prompt_text

CONTEXT_QUESTION_WORDS = 40   # a reporter's question is cut to this many words in the prompt


def template(name: str) -> str:
    """The text of prompts/<name>.txt (without its final newline)."""
    return prompt_text(name).rstrip("\n")


def fill(name: str, **fields) -> str:
    try:
        return template(name).format(**fields)
    except (KeyError, IndexError, ValueError) as e:
        raise RagError(f"{prompt_location(name)}: bad template field {e}") from None


def display_date(date: Optional[str]) -> str:
    return date or "date not given"


def display_speaker(hit: Hit) -> str:
    return hit.speaker or "unattributed text"


def _words(text: str, limit: int) -> str:
    ws = text.split()
    return " ".join(ws[:limit]) + (" ..." if len(ws) > limit else "")


def format_passage(n: int, hit: Hit, text: Optional[str] = None, with_question: bool = True) -> str:
    """Passage [n] as the model sees it; `text` (an excerpt of hit.text) defaults to the whole chunk."""
    context = ""
    if with_question and hit.question:
        context = fill("passage_context", question=_words(" ".join(hit.question.split()), CONTEXT_QUESTION_WORDS))
    body = " ".join((text if text is not None else hit.text).split())
    return fill("passage", n=n, speaker=display_speaker(hit), role=hit.role, title=hit.title,
                date=display_date(hit.date), context=context, text=body)


def answer_messages(question: str, passages: Iterable[tuple[int, Hit, Optional[str]]]) -> list[dict]:
    """Chat messages asking for a cited answer; `passages` holds (n, hit, excerpt or None)."""
    block = "\n\n".join(format_passage(n, hit, text) for n, hit, text in passages)
    return [{"role": "system", "content": template("answer_system")},
            {"role": "user", "content": fill("answer_user", question=question.strip(), passages=block)}]


def history_pairs(history) -> list[tuple[str, str]]:
    """Conversation history as (user, assistant) pairs.

    Accepts a list of (user, assistant) pairs / 2-lists, or a list of {"role", "content"}
    messages (OpenAI / Gradio "messages" style; other roles are ignored).
    """
    if not history:
        return []
    pairs: list[tuple[str, str]] = []
    pending: Optional[str] = None
    for item in history:
        if isinstance(item, dict):
            role, content = item.get("role"), item.get("content")
            if isinstance(content, list):  # multimodal message parts
                content = " ".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
            content = "" if content is None else str(content)
            if role == "user":
                if pending is not None:
                    pairs.append((pending, ""))
                pending = content
            elif role == "assistant":
                pairs.append((pending or "", content))
                pending = None
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            user, assistant = item
            pairs.append(("" if user is None else str(user), "" if assistant is None else str(assistant)))
        else:
            raise RagError(f"history entries must be (user, assistant) pairs or {{'role', 'content'}} dicts, "
                           f"not {type(item).__name__}")
    if pending is not None:
        pairs.append((pending, ""))
    return pairs


def rewrite_messages(question: str, earlier_questions: Sequence[str]) -> list[dict]:
    history = "\n".join(f"- {q.strip()}" for q in earlier_questions if q.strip())
    return [{"role": "system", "content": template("rewrite_system")},
            {"role": "user", "content": fill("rewrite_user", history=history, question=question.strip())}]


def clean_line(text: str) -> str:
    """First non-empty line of a model reply, without quotes or a 'Rewritten question:' prefix."""
    for line in text.splitlines():
        line = re.sub(r"^\s*(rewritten question|question)\s*:\s*", "", line, flags=re.I).strip().strip('"“”')
        if line:
            return line.strip()
    return ""
