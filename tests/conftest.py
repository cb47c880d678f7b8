"""Shared test fixtures: the bundled sample, the CC0 corpus (when present), and one sample index per session."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "data" / "briefings"
CORPUS_DIR = Path(os.environ.get("BRIEFING_CORPUS", ROOT.parent / "shared" / "corpus" / "wh-briefings"))


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE_DIR


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not CORPUS_DIR.is_dir():
        pytest.skip(f"CC0 corpus not found at {CORPUS_DIR}")
    return CORPUS_DIR


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory):
    """The bundled sample indexed once per test session (real model, real files). Shared: treat as read-only;
    copy its folder (`sample_index.path`) before changing anything."""
    from rag import Index
    from rag.errors import IndexStateError
    keep = os.environ.get("RAG_TEST_SAMPLE_INDEX")  # developer speed-up: a folder kept between runs
    path = Path(keep) if keep else tmp_path_factory.mktemp("sample") / "index"
    try:
        return Index.build([SAMPLE_DIR], path=path, progress=False)  # incremental: up to date = no embedding
    except IndexStateError:
        if not keep:
            raise
        import shutil
        shutil.rmtree(path)  # built by an older chunker or model: start again
        return Index.build([SAMPLE_DIR], path=path, progress=False)


@pytest.fixture(autouse=True)
def fresh_settings():
    """Each test reads the environment afresh (rag.settings caches it per process), and leaves no settings behind."""
    from rag import settings
    settings.use(None)
    yield
    settings.use(None)
