"""Domain adaptation of the embedding model on an archive's own exchanges (no labels needed).
Takes chunks (reporter question -> official answer pairs) and a model folder; gives a fine-tuned model folder.

Each answered question of the archive is a training pair: the reporter's question (as a user would ask)
and the official's words that answer it (speaker label + text, without the question, so the model cannot
match the two by the question's own words). The loss is sentence-transformers' MultipleNegativesRankingLoss
(in-batch negatives: the other answers of the batch), trained on the CPU with AdamW and a linear warm-up.
The folder is written under a temporary name and renamed, so a crash never leaves half a model.
"""
from __future__ import annotations

import os
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

from tqdm.auto import tqdm

from rag.errors import RagError
from rag.records import OFFICIAL, Chunk
from rag.settings import current, offline_environment

MIN_PAIRS = 32   # fewer exchanges than one batch: nothing to learn from in-batch negatives


@dataclass
class TuneReport:
    pairs: int
    epochs: int
    steps: int
    train_s: float
    first_loss: float
    last_loss: float
    model: str

    def to_dict(self) -> dict:
        return asdict(self)


def exchange_pairs(chunks: Sequence[Chunk], max_question_words: int = 64) -> list[tuple[str, str]]:
    """(question, answer) pairs: each official chunk that answers a reporter's question, with that question."""
    pairs = []
    for c in chunks:
        if c.role == OFFICIAL and c.question and c.question_speaker is not None and len(c.text.split()) >= 8:
            q = " ".join(c.question.split()[-max_question_words:])
            pairs.append((q, f"{c.speaker}: {c.text}" if c.speaker else c.text))
    return pairs


def fine_tune(source: str, pairs: list[tuple[str, str]], out_dir: Path, epochs: int = 1,
              batch_size: Optional[int] = None, progress: bool = True) -> TuneReport:
    """Fine-tune the sentence-transformers model in `source` on `pairs`; save it to `out_dir` (atomically)."""
    cfg = current().tune
    batch_size = batch_size or cfg.batch_size
    if not isinstance(epochs, int) or epochs < 1 or batch_size < 2:
        raise RagError(f"--epochs must be a whole number >= 1 (not {epochs!r}), and a batch at least 2 texts")
    if len(pairs) < max(MIN_PAIRS, batch_size):
        raise RagError(f"only {len(pairs)} answered questions in the index: at least {max(MIN_PAIRS, batch_size)} "
                       f"are needed to fine-tune the embedding model")
    offline_environment()
    import torch   # heavy: only for training
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    model = SentenceTransformer(source, device="cpu")
    model.max_seq_length = min(model.max_seq_length, cfg.max_tokens)
    loss_fn = MultipleNegativesRankingLoss(model)
    steps_per_epoch = len(pairs) // batch_size
    total = steps_per_epoch * epochs
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate)
    sched = get_linear_schedule_with_warmup(opt, int(total * cfg.warmup), total)
    prepare = getattr(model, "preprocess", None) or model.tokenize   # `tokenize` before sentence-transformers 6
    losses: list[float] = []
    t0 = time.perf_counter()
    model.train()
    bar = tqdm(total=total, unit="step", desc="fine-tuning", disable=not progress)
    try:
        for _ in range(epochs):
            order = rng.sample(pairs, len(pairs))
            for i in range(steps_per_epoch):
                batch = order[i * batch_size:(i + 1) * batch_size]
                feats = [prepare([q for q, _ in batch]), prepare([a for _, a in batch])]
                loss = loss_fn(feats, None)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                opt.zero_grad()
                losses.append(float(loss.detach()))
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
    finally:
        bar.close()
    model.eval()
    tmp = out_dir.with_name(out_dir.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save(str(tmp))
    os.replace(tmp, out_dir)
    return TuneReport(len(pairs), epochs, total, round(time.perf_counter() - t0, 1), round(losses[0], 4),
                      round(sum(losses[-10:]) / len(losses[-10:]), 4), str(out_dir))
