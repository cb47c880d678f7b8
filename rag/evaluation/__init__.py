"""Evaluation: metrics, `rag eval` over gold sets, `rag bench` (figures printed, never timed tests).
Takes an index and gold Q&A (or a corpus); gives metric tables and benchmark figures.
"""
