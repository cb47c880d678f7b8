"""Lexical (BM25) index over the chunks, with bm25s.
Takes the chunks' lexical texts (or a saved folder); gives BM25 scores per row and a vocabulary lookup.

Tokens: lower-cased words, English stop words removed, Snowball-stemmed
(PyStemmer), so "sanctions" finds "sanction". The index is saved with bm25s's
own `save` (numpy arrays with allow_pickle=False plus JSON vocabulary) and
loaded the same way: nothing is unpickled.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Sequence

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

# what BM25 holds: the tokenizer below over rag.indexing.updates.lexical_text; 2 added the briefing's title
TOKENIZER_VERSION = "words-stop-en-snowball-2"
_WORD = re.compile(r"\w+", re.UNICODE)

logging.getLogger("bm25s").setLevel(logging.WARNING)


_STOP = frozenset(STOPWORDS_EN)
_STEMMER = Stemmer.Stemmer("english")


def tokenize(text: str) -> list[str]:
    """BM25's tokens: lower-cased words, English stop words removed, Snowball stems."""
    words = [w for w in _WORD.findall(text.lower().replace("_", " ")) if w not in _STOP]
    return _STEMMER.stemWords(words)


class Lexical:
    """BM25 scores for every chunk row (row i = chunk i of the store)."""

    def __init__(self, bm25=None, n: int = 0):
        self._bm25 = bm25
        self.n = n

    @classmethod
    def build(cls, texts: Sequence[str]) -> "Lexical":
        tokens = [tokenize(t) for t in texts]
        if not tokens:
            return cls(None, 0)
        bm25 = bm25s.BM25()
        bm25.index(tokens, show_progress=False)
        return cls(bm25, len(tokens))

    def save(self, folder: Path) -> list[Path]:
        """Write the index into `folder` (created); returns the files written."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self._bm25 is not None:
            self._bm25.save(str(folder), allow_pickle=False)
        return sorted(p for p in folder.iterdir() if p.is_file())

    @classmethod
    def load(cls, folder: Path, n: int) -> "Lexical":
        if n == 0:
            return cls(None, 0)
        bm25 = bm25s.BM25.load(str(folder), allow_pickle=False, load_corpus=False)
        return cls(bm25, n)

    def knows(self, word: str) -> bool:
        """Whether `word` (stemmed as BM25 indexes it) occurs in any row; a stop word alone counts as known."""
        if self._bm25 is None:
            return False
        return all(t in self._bm25.vocab_dict for t in tokenize(word))

    def variants(self, stem: str, max_extra: int = 3) -> list[str]:
        """Indexed stems that extend `stem` by at most `max_extra` letters ("haiti" -> "haitian"), `stem` first
        when indexed: the derived forms a stemmer leaves apart. Scans the vocabulary (~10 ms at 100k stems)."""
        if self._bm25 is None:
            return []
        vocab = self._bm25.vocab_dict
        return sorted((t for t in vocab if t.startswith(stem) and len(t) - len(stem) <= max_extra),
                      key=lambda t: (t != stem, t))

    @staticmethod
    def tokens(text: str) -> list[str]:
        """`text` as BM25 reads it (the module's `tokenize`)."""
        return tokenize(text)

    def doc_freq(self, stem: str) -> int:
        """How many rows hold the (already stemmed) token: its column's length in bm25s's sparse score matrix."""
        if self._bm25 is None or stem not in self._bm25.vocab_dict:
            return 0
        t = self._bm25.vocab_dict[stem]
        indptr = self._bm25.scores["indptr"]
        return int(indptr[t + 1] - indptr[t])

    def stem_scores(self, stems: Sequence[str]) -> np.ndarray:
        """BM25 score of every row for already-stemmed tokens (0 where none occurs)."""
        if self._bm25 is None:
            return np.zeros(self.n, dtype=np.float32)
        ids = self._bm25.get_tokens_ids(list(stems))   # tokens the vocabulary lacks are left out
        if not ids:
            return np.zeros(self.n, dtype=np.float32)
        return np.asarray(self._bm25.get_scores_from_ids(ids), dtype=np.float32)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every row for `query` (0 where no query word occurs)."""
        return self.stem_scores(tokenize(query))
