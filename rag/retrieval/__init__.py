"""Retrieval: filters, rankings and their fusion, dates named in a question, search over a declared `IndexView`.
Takes an IndexView and a query; gives ranked `Hit`s. It never imports the index that builds the view.
"""
from rag.retrieval.dates import question_period
from rag.retrieval.filters import Columns, Filters
from rag.retrieval.search import MODES, search
from rag.retrieval.view import IndexView, LexicalScorer, VectorStore

__all__ = ["Columns", "Filters", "IndexView", "LexicalScorer", "MODES", "VectorStore", "question_period", "search"]
