"""`rag tune`: the embedding model fine-tuned on the index's own exchanges, kept in the index folder, and every
chunk re-embedded with it; too small an archive is refused with the index left as it was."""
import shutil

import numpy as np
import pytest

from rag import Index
from rag.encoders import Embedder
from rag.encoders.tuning import exchange_pairs
from rag.errors import RagError


def _pair_similarity(embedder: Embedder, pairs) -> float:
    q = embedder.encode([a for a, _ in pairs])
    a = embedder.encode([b for _, b in pairs])
    return float(np.mean(np.sum(q * a, axis=1)))


@pytest.mark.slow
def test_tune_fine_tunes_on_the_exchanges_and_reembeds(sample_index, tmp_path):
    folder = tmp_path / "idx"
    shutil.copytree(sample_index.path, folder)
    index = Index.open(folder)
    pairs = exchange_pairs(index.chunks)
    before_vectors = np.array(index.vectors)
    before = _pair_similarity(index.embedder, pairs)
    generation = index.manifest["generation"]
    report = index.tune()
    assert report.pairs == len(pairs) >= 32 and report.steps >= 1
    reopened = Index.open(folder)
    assert reopened.manifest["generation"] == generation + 1
    assert reopened.embedder.name == report.model and str(folder) in report.model
    assert not np.allclose(np.array(reopened.vectors), before_vectors)
    assert _pair_similarity(reopened.embedder, pairs) > before   # questions moved closer to their answers
    hits = reopened.search("What did Blinken say about Russian forces near Ukraine?", k=3)
    assert hits and hits[0].speaker == "SECRETARY BLINKEN"


def test_tune_refuses_an_archive_without_enough_exchanges(tmp_path):
    (tmp_path / "a.txt").write_text("QUESTION:  Will the fishery reopen?\n\nMR. HARBOR:  The fishery reopens in "
                                    "June, after the survey of the cod stock is complete.\n", encoding="utf-8")
    index = Index.build([tmp_path / "a.txt"], path=tmp_path / "idx", progress=False)
    generation = index.manifest["generation"]
    with pytest.raises(RagError, match="answered questions"):
        index.tune()
    with pytest.raises(RagError, match="--epochs must be"):
        index.tune(epochs=-1)
    assert Index.open(tmp_path / "idx").manifest["generation"] == generation
