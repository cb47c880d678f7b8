"""Phase 2 of an ingest while the app serves: the vectors embedded in a background thread, one checkpoint
at a time. Takes an open Index; gives a running embedder and a line for the status bar.

The app answers from the first moment (BM25 for passages without vectors, `Hit.dense` False); each
checkpoint is committed and picked up by searches at once. The writer's lock is held one checkpoint at a
time, so an upload gets in between; it adds its files lexically and this thread embeds them too.
"""
from __future__ import annotations

import logging
import threading
from typing import Optional

log = logging.getLogger(__name__)


class BackgroundVectors:
    """At most one daemon thread running `index.embed_pending(step_by_step=True)`."""

    def __init__(self, index):
        self.index = index
        self.error: Optional[str] = None
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    def running(self) -> bool:
        return self._thread is not None

    def ensure(self) -> bool:
        """Start embedding if some passages have no vector and no thread is at it; True if one runs now."""
        with self._lock:
            if self.index is None or self.running():
                return self.running()
            if self.index.vector_progress.complete and not self.index.outdated:
                return False
            self.error = None
            self._thread = threading.Thread(target=self._run, name="rag-vectors", daemon=True)
            self._thread.start()
            return True

    def _run(self) -> None:
        while True:
            try:
                if self.index.outdated:   # written by an older version: rebuilt in place, the old one answering
                    self.index.upgrade(progress=False)
                self.index.embed_pending(progress=False, step_by_step=True)
            except Exception as e:   # the app keeps serving lexically; the status line says why
                self.error = f"{type(e).__name__}: {e}"
                log.exception("embedding in the background stopped")
            with self._lock:   # an upload's ensure() either sees this thread still registered or none at all
                if self.error or (self.index.vector_progress.complete and not self.index.outdated):
                    self._thread = None
                    return

    def status(self) -> str:
        """'' when every passage has a vector, else the progress line (or why embedding stopped)."""
        if self.index is None:
            return ""
        p = self.index.vector_progress
        if self.index.outdated and not self.error:
            return f"upgrading the index written by an older version ({self.index.outdated}); searching the old one"
        if p.complete:
            return ""
        if self.error:
            return f"vectors: {p.done:,} of {p.total:,} passages; embedding stopped ({self.error}), BM25 for the rest"
        return p.describe()
