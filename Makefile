# Two entry points: `make run` (install + default pipeline) and `make test` (install + tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
TORCH_SPEC ?= torch==2.13.0
# Without an NVIDIA driver, take torch's CPU build (PyPI's Linux wheel is the multi-GB CUDA
# one); with `nvidia-smi` present, PyPI's CUDA build. Override: make run TORCH_INDEX=<url>.
TORCH_INDEX ?= $(if $(shell command -v nvidia-smi 2>/dev/null),,https://download.pytorch.org/whl/cpu)

.PHONY: install run test lint clean

$(BIN)/snakemake: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX) --retries 1)
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/snakemake

run: install
	$(BIN)/llmr estimate --config config.yaml
	$(BIN)/snakemake --cores $(CORES)

test: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest -q tests

lint: install  # ruff, and snakemake --lint with its per-rule "no conda env" note accepted
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest -q tests/test_lint.py

clean:
	rm -rf results logs benchmarks .snakemake
