# One Makefile for people, pre-commit and CI alike.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PYTEST_ARGS ?=
LINT_PATHS := src tests bench

.PHONY: install serve test lint format typecheck imports check bench load clean

# llama.cpp is compiled for a portable x86-64-v3 CPU, not -march=native: a native build trusts CPUID and
# dies with SIGILL where a VM advertises instructions its hypervisor does not enable (AMX here). The
# wheel is built once per flag set into its own directory (scripts/build-llama-wheel says why).
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
export CMAKE_ARGS := $(LLAMA_CMAKE_ARGS)
LLAMA_WHEELS ?= $(HOME)/.cache/pentad/llama-wheels/$(shell printf '%s' '$(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-12)

# Re-run pip only when the project's dependencies change.
$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	scripts/build-llama-wheel $(BIN)/pip $(LLAMA_WHEELS)
	$(BIN)/pip install --quiet --find-links $(LLAMA_WHEELS) -e '.[test]'
	touch $@

install: $(BIN)/.installed

serve: install  ## install, then run the server on the embedded defaults
	$(BIN)/pentad serve

test: install  ## the whole test suite, against real SQLite, PostgreSQL and Redis
	scripts/ensure-services
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

format: install
	$(BIN)/ruff check --fix $(LINT_PATHS)
	$(BIN)/ruff format $(LINT_PATHS)

typecheck: install
	$(BIN)/mypy

imports: install  ## layer contracts: core imports no engine or surface, engines no surface
	$(BIN)/lint-imports

check: lint typecheck imports

bench: install
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

load: install  ## 60 s of mixed traffic on SQLite, then on PostgreSQL + Redis (docs/performance.md)
	$(BIN)/pip install --quiet -e '.[load]'
	scripts/ensure-services
	$(BIN)/python bench/load_mixed.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
