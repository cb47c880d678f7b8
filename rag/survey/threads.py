"""Threads of a survey: its statements grouped into sub-topics, each labelled with words from its own quotes.
Takes the statements and the passages they are quoted from; gives `Thread`s (and sets each statement's `thread`).

Passages are compared by TF-IDF over their words (scikit-learn), the topic's own words left out (they are in
every passage and say nothing about which sub-topic), and grouped by average-linkage clustering under a cosine
distance (settings.survey.thread_distance). A group needs two statements; the largest `max_threads` are kept, the
rest of the statements belong to no thread. A label is the group's most distinctive words (its mean TF-IDF
minus the others') among the words its quotes hold, so it reads like what was said.
"""
from __future__ import annotations

import re
from typing import Optional

import numpy as np

from rag.indexing.lexical import tokenize
from rag.lexicon import GENERIC, STOP
from rag.records import Statement, Thread
from rag.settings import SurveySettings, current

# words that say nothing about a sub-topic, on top of the stop words (courtesies, fillers, calendar words)
PLAIN = frozenset("""put want wants wanted need needs come comes came make makes take takes look looking thank thanks
good afternoon morning evening applause yes okay right great sure able continue continues continued continuing
important today yesterday tomorrow week weeks day days year years time times lot new work working going gonna
folks people everybody everyone anything something nothing really certainly obviously clearly actually again""".split())
MIN_STATEMENTS = 4      # fewer statements are shown as a timeline alone (readability, not tuned)
LABEL_WORDS = 3
_WORD = re.compile(r"(?u)\b[a-zA-Z][a-zA-Z\-]{2,}\b")


def preload() -> None:
    """Import the clustering code now (~1 s), so a server's first survey does not wait for it."""
    import sklearn.cluster  # noqa: F401
    import sklearn.feature_extraction.text  # noqa: F401


def group(items: list[Statement], passages: list[str], topic: str,
          settings: Optional[SurveySettings] = None) -> list[Thread]:
    """Threads over `items` (statement i quoted from passages[i]); largest first."""
    cfg = settings or current().survey
    if len(items) < MIN_STATEMENTS:
        return []
    from sklearn.cluster import AgglomerativeClustering            # heavy: loaded on the first survey
    from sklearn.feature_extraction.text import TfidfVectorizer
    topic_stems = set(tokenize(topic))
    stop = STOP | GENERIC | PLAIN

    def words(text: str) -> list[str]:
        return [w for w in (m.lower() for m in _WORD.findall(text))
                if w not in stop and not (set(tokenize(w)) & topic_stems)]

    vectorizer = TfidfVectorizer(analyzer=words, sublinear_tf=True, min_df=1)
    try:
        x = vectorizer.fit_transform(passages)
    except ValueError:   # no word left once the topic's own are out
        return []
    if x.shape[1] < 2:
        return []
    dense = x.toarray()
    keep = np.linalg.norm(dense, axis=1) > 0
    if keep.sum() < MIN_STATEMENTS:
        return []
    labels = np.full(len(items), -1)
    labels[keep] = AgglomerativeClustering(n_clusters=None, distance_threshold=cfg.thread_distance,
                                           metric="cosine", linkage="average").fit_predict(dense[keep])
    sizes = {c: int((labels == c).sum()) for c in set(labels.tolist()) if c >= 0}
    chosen = [c for c, n in sorted(sizes.items(), key=lambda x: (-x[1], x[0])) if n >= 2][:cfg.max_threads]
    vocab = np.array(vectorizer.get_feature_names_out())
    threads = []
    for c in chosen:
        members = np.flatnonzero(labels == c)
        others = np.flatnonzero((labels != c) & keep)
        distinct = dense[members].mean(axis=0) - (dense[others].mean(axis=0) if len(others) else 0)
        quoted = {w for i in members for w in words(items[i].quote)}
        ranked = [vocab[j] for j in np.argsort(-distinct) if vocab[j] in quoted and distinct[j] > 0]
        if not ranked:
            continue
        t = len(threads)
        threads.append(Thread(", ".join(ranked[:LABEL_WORDS]), [items[i].n for i in members]))
        for i in members:
            items[i].thread = t
    return threads
