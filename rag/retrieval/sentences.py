"""Passages scored by their best sentences: a second vote in hybrid fusion for the passage that holds the words.
Takes the query, the lexical index (for word rarity) and the ranked hits; gives the hits re-ranked.

A passage ranks on its whole text and the question it answers; a long answer that touches the topic once in
passing can outrank the short answer whose two sentences say exactly what was asked. Here each of the top
`settings.retrieval.sentence_depth` passages is scored by its best `sentence_width` adjacent sentences: the share
of the query's words they hold, each word weighted by its rarity in the index (BM25's idf), counted in the
official's own words only (never the reporter's question). That order votes in a second reciprocal rank fusion
with the passages' fused order, at `sentence_weight`.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

from rag.lexicon import sentence_spans
from rag.records import Hit
from rag.retrieval.view import LexicalScorer

Tokens = Callable[[str], list[str]]


def query_weights(lexical: LexicalScorer, query: str) -> dict[str, float]:
    """The query's BM25 stems the index holds -> their idf (a word no passage holds cannot tell passages apart)."""
    n = max(1, lexical.n)
    out = {}
    for stem in dict.fromkeys(lexical.tokens(query)):
        df = lexical.doc_freq(stem)
        if df:
            out[stem] = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return out


def best_sentences(text: str, weights: dict[str, float], width: int, tokens: Tokens) -> float:
    """The largest share of `weights` that `width` adjacent sentences of `text` hold together (`tokens`: the
    lexical index's tokenizer)."""
    total = sum(weights.values())
    if not total:
        return 0.0
    stems = [set(tokens(text[a:b])) & weights.keys() for a, b in (sentence_spans(text) or [(0, len(text))])]
    best = 0.0
    for i in range(max(1, len(stems) - width + 1)):
        held = set().union(*stems[i:i + width])
        # fsum: exact whatever the order; a plain sum over a set of strings rounds differently in each process
        # (hash seeds), which reordered tied passages between two runs of the same query (2 of 259 gold questions)
        best = max(best, math.fsum(weights[s] for s in held))
    return best / total


def rerank(hits: Sequence[Hit], weights: dict[str, float], tokens: Tokens, width: int, weight: float, rrf_k: int
           ) -> list[Hit]:
    """`hits` (best first) re-ranked by 1/(rrf_k + rank) + weight/(rrf_k + rank by best sentences); ranks and
    scores renumbered."""
    held = [best_sentences(h.text, weights, width, tokens) for h in hits]
    by_held = sorted(range(len(hits)), key=lambda i: (-held[i], i))
    sentence_rank = {i: r for r, i in enumerate(by_held, start=1)}
    fused = [(1 / (rrf_k + i + 1) + weight / (rrf_k + sentence_rank[i]), i) for i in range(len(hits))]
    out = []
    for rank, (score, i) in enumerate(sorted(fused, key=lambda x: (-x[0], x[1])), start=1):
        hits[i].rank, hits[i].score = rank, score
        out.append(hits[i])
    return out
