"""Ingest: files -> clean text + metadata -> speaker turns -> `Transcript`s -> speaker-aware `Chunk`s.
Takes paths; gives transcripts (with the errors met per file) and the chunker that sizes their chunks.

    find_files(paths) -> files; read_transcript(file) -> Transcript; read_each(files) -> (file, Transcript | InputError)
    Chunker().chunk(transcript) -> [Chunk]
"""
from rag.ingest.chunker import CHUNKER_VERSION, Chunker
from rag.ingest.readers import fingerprint
from rag.ingest.transcripts import IngestResult, find_files, load, read_each, read_transcript

__all__ = ["CHUNKER_VERSION", "Chunker", "IngestResult", "find_files", "fingerprint", "load", "read_each",
           "read_transcript"]
