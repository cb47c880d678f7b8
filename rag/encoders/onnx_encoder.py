"""The ONNX backend of the embedding model: exported locally (no hub, no optimum), fp32 or int8.
Takes a sentence-transformers model folder and texts; gives the same unit vectors as `encode` there.

The model folder's transformer is exported once with `torch.onnx.export` (mean pooling and L2
normalisation inside the graph), optionally quantised to int8 with
`onnxruntime.quantization.quantize_dynamic` (per-channel weights: cosine to the torch vectors
stays >= 0.98 on real chunks, see tests/test_onnx_embed.py), and cached under
`rag.resources.cache_dir()/onnx/<model>-<hash>/`. Files are written to a temporary name and renamed,
so a crash or a concurrent export never leaves a half-written model behind.

`OnnxEncoder.encode` tokenises every text exactly once, sorts by token length, runs batches padded
only to their own longest member on one single-threaded session per core (in parallel), and restores the
input order. At batch size 1 (the default, settings.index.onnx_batch) a text's vector depends on the text
alone: int8 scales activations per run, so in a bigger batch it would shift with its neighbours.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from tqdm import tqdm

from rag.errors import RagError
from rag.resources import cache_dir, default_embedding_model_path, word_pieces
from rag.settings import current

EXPORT_VERSION = "1"  # bump when the exported graph changes (pooling, opset, quantisation settings)
OPSET = 17
DEFAULT_BATCH = 1   # see the module's docstring and settings.index.onnx_batch
SHRINK_BELOW = 256   # texts per encode call at most for which the memory arena is shrunk afterwards (queries, checks)


def _model_fingerprint(model_path: Path) -> str:
    """sha256 over the files that decide the vectors: config, pooling, tokenizer and weights."""
    h = hashlib.sha256(EXPORT_VERSION.encode())
    names = ["config.json", "sentence_bert_config.json", "modules.json", "1_Pooling/config.json",
             "tokenizer.json", "vocab.txt", "model.safetensors", "pytorch_model.bin"]
    for name in names:
        f = model_path / name
        if not f.is_file():
            continue
        h.update(name.encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def _pooling(model_path: Path) -> tuple[str, bool]:
    """(mode, normalise) from the sentence-transformers module config; mean pooling by default."""
    mode = "mean"
    cfg = model_path / "1_Pooling" / "config.json"
    if cfg.is_file():
        c = json.loads(cfg.read_text())
        if c.get("pooling_mode_cls_token"):
            mode = "cls"
        elif not c.get("pooling_mode_mean_tokens", True):
            raise RagError(f"{model_path}: only mean or CLS pooling can be exported to ONNX")
    return mode, True  # the index always stores unit vectors


def max_seq_length(model_path: Path) -> int:
    cfg = model_path / "sentence_bert_config.json"
    if cfg.is_file():
        n = json.loads(cfg.read_text()).get("max_seq_length")
        if n:
            return int(n)
    conf = json.loads((model_path / "config.json").read_text())
    return int(conf.get("max_position_embeddings", 512))


def _atomic_target(final: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=final.name + ".", suffix=".tmp", dir=final.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)
    return Path(tmp)


def _export_fp32(model_path: Path, out: Path, input_names: list[str]) -> None:
    import torch
    from transformers import AutoModel

    mode, _ = _pooling(model_path)
    model = AutoModel.from_pretrained(str(model_path), attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, *inputs):
            kw = dict(zip(input_names, inputs))
            h = self.m(**kw).last_hidden_state
            if mode == "cls":
                e = h[:, 0]
            else:
                mask = kw["attention_mask"].unsqueeze(-1).to(h.dtype)
                e = (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(e, p=2, dim=1)

    dummy = tuple(torch.ones(2, 16, dtype=torch.long) if n != "token_type_ids" else torch.zeros(2, 16, dtype=torch.long)
                  for n in input_names)
    axes = {n: {0: "batch", 1: "seq"} for n in input_names}
    axes["sentence_embedding"] = {0: "batch"}
    tmp = _atomic_target(out)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about shape checks that hold for every input
            torch.onnx.export(Pooled(model), dummy, str(tmp), dynamo=False, input_names=input_names,
                              output_names=["sentence_embedding"], dynamic_axes=axes,
                              opset_version=OPSET, do_constant_folding=True)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _quantize(src: Path, out: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = _atomic_target(out)
    try:
        # per-channel int8 weights: plain per-tensor int8 drops cosine to ~0.87 on some chunks (AVX2)
        quantize_dynamic(str(src), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def export_onnx(model_path: str | Path | None = None, quantized: bool = True) -> Path:
    """Path of the cached ONNX file for this model folder, exporting it first when missing."""
    model_path = Path(model_path) if model_path else default_embedding_model_path()
    if not (model_path / "config.json").is_file():
        raise RagError(f"{model_path}: not a local model folder (no config.json); the ONNX backend needs one")
    folder = cache_dir() / "onnx" / f"{model_path.name if model_path.name != 'model' else model_path.parent.name}-{_model_fingerprint(model_path)}"
    folder.mkdir(parents=True, exist_ok=True)
    fp32, int8 = folder / "model.onnx", folder / "model-int8.onnx"
    if not fp32.is_file():
        from transformers import AutoTokenizer
        names = list(AutoTokenizer.from_pretrained(str(model_path)).model_input_names)
        _export_fp32(model_path, fp32, names)
    if quantized and not int8.is_file():
        _quantize(fp32, int8)
    return int8 if quantized else fp32


def length_buckets(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Index batches of similar length: sort by length, cut into runs of batch_size."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def _word_pieces(model_path: Path):
    """(the folder's tokenizer.json as a `tokenizers.Tokenizer` without padding, its pad id), or (None, 0)."""
    raw = word_pieces(model_path)
    if raw is None:
        return None, 0
    pad = None
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        cfg = model_path / name
        if pad is None and cfg.is_file():
            token = json.loads(cfg.read_text()).get("pad_token")
            token = token.get("content") if isinstance(token, dict) else token
            pad = raw.token_to_id(token) if token else None
    return raw, pad or 0


def _model_max_length(model_path: Path) -> int:
    """The tokenizer's own limit (tokenizer_config.json), as transformers reads it; very large when unset."""
    cfg = model_path / "tokenizer_config.json"
    n = json.loads(cfg.read_text()).get("model_max_length") if cfg.is_file() else None
    return int(n) if isinstance(n, (int, float)) and n > 0 else int(1e30)


class OnnxEncoder:
    """Drop-in for `SentenceTransformer.encode` on CPU: returns unit float32 vectors."""

    def __init__(self, model_path: str | Path | None = None, quantized: bool = True,
                 batch_size: int = DEFAULT_BATCH, threads: int | None = None):
        self.model_path = Path(model_path) if model_path else default_embedding_model_path()
        self.backend = "onnx-int8" if quantized else "onnx"
        self.onnx_path = export_onnx(self.model_path, quantized)
        self._hf_tokenizer = None
        self._rust, self.pad_id = _word_pieces(self.model_path)
        if self._rust is not None:
            self.max_seq_length = min(max_seq_length(self.model_path), _model_max_length(self.model_path))
            self._rust.enable_truncation(self.max_seq_length)
        else:   # no tokenizer.json: the slow transformers tokenizer
            self.max_seq_length = min(max_seq_length(self.model_path), self.tokenizer.model_max_length)
            self.pad_id = self.tokenizer.pad_token_id or 0
        self.batch_size = batch_size
        # one single-threaded session per thread, run side by side: on two cores, batch 1, 166.6 chunks/s
        # (eval/onnx_batch_probe.py) against 113.5 for one two-threaded session (2,048 CC0 chunks); a query is
        # faster on one thread too (p50 3.1 vs 4.1 ms; eval/RESULTS.md, "int8 by default")
        self.threads = max(1, threads or (current().runtime.onnx_threads or 0) or (os.cpu_count() or 1))
        self._sessions = [self._new_session()]   # the others open on the first call with more than one batch
        self._sessions_lock = threading.Lock()
        self.input_names = [i.name for i in self._sessions[0].get_inputs()]
        shape = self._sessions[0].get_outputs()[0].shape
        self.dim = shape[1] if isinstance(shape[1], int) else int(json.loads(
            (self.model_path / "config.json").read_text())["hidden_size"])

    def _new_session(self):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        # busy-waiting threads steal the cores from the tokenizer, the other sessions and other processes
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(self.onnx_path), so, providers=["CPUExecutionProvider"])

    def _parallel_sessions(self, n: int) -> list:
        """`n` sessions (opened once, kept), each run by one thread."""
        with self._sessions_lock:
            while len(self._sessions) < n:
                self._sessions.append(self._new_session())
            return self._sessions[:n]

    @property
    def tokenizer(self):
        """The transformers tokenizer of the model folder (for a chunker sized to another model); loaded only
        when asked for: it imports torch, which encoding through ONNX does not need."""
        if self._hf_tokenizer is None:
            from transformers import AutoTokenizer
            self._hf_tokenizer = AutoTokenizer.from_pretrained(str(self.model_path))
        return self._hf_tokenizer

    def get_sentence_embedding_dimension(self) -> int:
        return self.dim

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Word-piece ids with [CLS]/[SEP], truncated to the model window, unpadded (one call for all texts)."""
        if self._rust is not None:  # the Rust tokenizer directly: same ids, parallel, less per-text overhead
            return [e.ids for e in self._rust.encode_batch(list(texts))]
        enc = self.tokenizer(list(texts), truncation=True, max_length=self.max_seq_length,
                             padding=False, return_attention_mask=False, return_token_type_ids=False)
        return enc["input_ids"]

    def encode(self, texts: str | Iterable[str], batch_size: int | None = None,
               show_progress_bar: bool = False, normalize_embeddings: bool = True, **_ignored) -> np.ndarray:
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        unique = list(dict.fromkeys(texts))   # identical texts (e.g. "Thank you.") are encoded once
        ids = self.tokenize(unique)
        pad = self.pad_id
        batches = length_buckets([len(x) for x in ids], batch_size or self.batch_size)
        bar = tqdm(total=len(unique), unit="chunk", desc="embedding") if show_progress_bar else None
        results = {}
        # The memory arena makes bulk encoding ~25% faster (80 vs 60 chunks/s here), but keeps its largest
        # buffers (~100 MB of attention scores for a batch of long passages): a small call (a query, the
        # sentences of a few passages) shrinks it back when done, so a server does not hold that memory.
        run_options = None
        if len(unique) <= SHRINK_BELOW:
            import onnxruntime as ort
            run_options = ort.RunOptions()
            run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

        def run(session, share):
            for idx in share:
                width = max(len(ids[j]) for j in idx)
                arr = np.full((len(idx), width), pad, np.int64)
                mask = np.zeros((len(idx), width), np.int64)
                for r, j in enumerate(idx):
                    arr[r, :len(ids[j])] = ids[j]
                    mask[r, :len(ids[j])] = 1
                feed = {"input_ids": arr, "attention_mask": mask}
                if "token_type_ids" in self.input_names:
                    feed["token_type_ids"] = np.zeros_like(arr)
                vecs = session.run(None, {k: v for k, v in feed.items() if k in self.input_names}, run_options)[0]
                results.update(zip(idx.tolist(), vecs))
                if bar:
                    bar.update(len(idx))

        sessions = self._parallel_sessions(min(self.threads, len(batches)))
        if len(sessions) == 1:
            run(sessions[0], batches)
        else:   # batch i to session i mod n: each session's share has the same mix of lengths
            with ThreadPoolExecutor(len(sessions)) as pool:
                list(pool.map(run, sessions, [batches[i::len(sessions)] for i in range(len(sessions))]))
        if bar:
            bar.close()
        # the graph always L2-normalises (unit vectors are what the index stores)
        row = {t: i for i, t in enumerate(unique)}
        out = np.stack([results[row[t]] for t in texts]).astype(np.float32, copy=False)
        return out[0] if single else out
