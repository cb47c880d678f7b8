"""Passages shown for ranked units: the speaker turn's best chunk widened by its neighbours in the same turn.
Takes a unit's rows and the chunks; gives the `Hit` (the official's words only, the question as context).

A long answer is split into chunks of <= 256 word pieces for embedding; the evidence a reader needs is
often in the chunk next to the one that matched best (the question's words are embedded with every chunk
of its answer). A hit therefore shows `settings.retrieval.passage_window` chunks on each side of its best
one, joined without the sentence the chunker repeats as overlap. `Hit.shown_parts` lists the parts shown.
"""
from __future__ import annotations

from typing import Sequence

from rag.records import Chunk, Hit

def join_parts(texts: Sequence[str]) -> str:
    """Consecutive chunk texts of one turn as one text, the overlap sentence kept once: the longest end of the
    text so far that starts a sentence (after a space) and that the next part starts with is not repeated."""
    out = ""
    for t in texts:
        if not out:
            out = t
            continue
        first = t.split(maxsplit=1)[0] if t.strip() else t
        at = out.find(first, max(1, len(out) - len(t)))
        while at >= 0 and not (out[at - 1].isspace() and t.startswith(out[at:])):
            at = out.find(first, at + 1)
        out += t[len(out) - at:] if at >= 0 else " " + t
    return out


def passage(chunks: Sequence[Chunk], rows: Sequence[int], center: int, window: int, rank: int, score: float) -> Hit:
    """The hit for a turn whose rows (in part order) are `rows`, centred on row `center`."""
    part = chunks[center].part
    shown = [r for r in rows if abs(chunks[r].part - part) <= window]
    hit = Hit.from_chunk(chunks[center], rank=rank, score=score)
    hit.text = join_parts([chunks[r].text for r in shown])
    hit.shown_parts = [chunks[r].part for r in shown]
    return hit
