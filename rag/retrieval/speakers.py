"""Speakers named in a question ("What did Kirby say about ...", "Blinken on Iran"), as rows to prefer.
Takes a question and the index's view; gives the names, as a speaker filter for the rows to prefer.

A name counts when it is a word of some speaker label of the index that is not a title or a role
("KIRBY" in "MR. KIRBY", "BLINKEN" in "SECRETARY BLINKEN"; never "SECRETARY", "SENIOR", "OFFICIAL").
An office the question names ("the press secretary", "the national security adviser", "the Secretary") stands
for those who held it (rag.offices.OFFICE_PHRASES), those the index has as speakers.
Like a date in the question, it is a preference (hybrid search also ranks those rows and fuses them
in), never a filter: the question may name a person it asks about rather than one who spoke.
"""
from __future__ import annotations

import re

from rag.lexicon import names
from rag.offices import OFFICE_PHRASES
from rag.records import QUESTIONER
from rag.retrieval.view import IndexView

TITLE_WORDS = frozenset("""mr ms mrs dr miss the a of and for to on senior administration official officials state
department white house secretary president vice press spokesperson spokesman deputy assistant acting ambassador
general admiral governor senator representative minister prime chancellor king queen director administrator
adviser advisor national security council chief staff moderator operator participant question questioner audience
one two three four five first lady second gentleman special envoy coordinator communications counselor under
attorney surgeon commissioner chair chairman chairwoman leader mayor q""".split())


def name_words(label_norm: str) -> list[str]:
    """The words of a normalised speaker label that are not titles or roles ("mr kirby" -> ["kirby"])."""
    return [w for w in label_norm.split() if w not in TITLE_WORDS]


def speaker_words(view: IndexView) -> frozenset[str]:
    """The name words of the index's speaker labels (titles and roles left out); made once per view."""
    if "speaker_words" not in view.cache:
        cols = view.columns
        view.cache["speaker_words"] = frozenset(
            w for label, role in set(zip(cols.speaker.tolist(), cols.role.tolist())) if role != QUESTIONER
            for w in name_words(label) if len(w) > 2 and not w.isdigit())
    return view.cache["speaker_words"]


def named_speakers(question: str, view: IndexView) -> list[str]:
    """The speaker names the question holds, as speaker filter words ("kirby"), in sorted order; an office it
    names ("the press secretary") stands for those who held it (rag.offices.OFFICE_PHRASES) that the index has
    as speakers."""
    known = speaker_words(view)
    found = {n for n in names(question) if n in known}
    for phrase, words in OFFICE_PHRASES:
        if re.search(rf"\b{phrase}\b", question, re.I):
            found |= {w for w in words if all(p in known for p in w.split("-"))}
    return sorted(found)
