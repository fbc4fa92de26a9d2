# visionbench: two commands on a fresh machine with Python >= 3.10.
#   make demo   set everything up, then run the main job (compare the default models on digits)
#   make test   set everything up, then run the whole test suite
#   make readme re-run the README's example commands and refresh their output
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
ARCH   := $(shell uname -m)
# The PyTorch builds tested here; pip finds them in the package registry (or on this machine's disk).
ifeq ($(ARCH),aarch64)
TORCH_PIN ?= torch==2.9.1 torchvision==0.24.1
else
TORCH_PIN ?= torch==2.14.1 torchvision==0.29.1
endif

.PHONY: setup demo test lint bench wheel-check readme clean-venv

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_PIN)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/visionbench compare

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests benchmarks

bench: setup
	$(BIN)/python benchmarks/bench_pipeline.py

# Re-run the README's marked example commands (<!-- readme-run: ... -->) and write their real output into it.
readme: setup
	PATH="$(abspath $(BIN)):$$PATH" MPLBACKEND=Agg $(BIN)/python tools/readme.py README.md

# As a user would, from scratch: build the wheel (from a clean copy of the sources, so no stale build/ leaks into it),
# install the PyTorch pin and then the wheel with its dependencies into a fresh virtual environment, and run one short
# comparison in an empty folder outside the source tree. Nothing is left behind.
wheel-check:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; start=$$(date +%s); \
	mkdir "$$tmp/source" "$$tmp/work"; \
	cp -R pyproject.toml README.md LICENSE src "$$tmp/source/"; rm -rf "$$tmp"/source/src/*.egg-info; \
	$(PYTHON) -m venv "$$tmp/venv"; py="$$tmp/venv/bin/python"; \
	$$py -m pip install --quiet --upgrade pip; \
	$$py -m pip wheel --quiet --no-deps -w "$$tmp/dist" "$$tmp/source"; \
	$$py -m pip install --quiet $(TORCH_PIN); \
	$$py -m pip install --quiet "$$tmp"/dist/visionbench-*.whl; \
	cd "$$tmp/work"; \
	$$py -c 'import sys, visionbench as v; assert v.__file__.startswith(sys.prefix), "not the wheel: " + v.__file__'; \
	MPLBACKEND=Agg "$$tmp/venv/bin/visionbench" compare --models cnn --epochs 1 --quiet; \
	test -n "$$(find "$$tmp/work" -name comparison.md)" || { echo "wheel-check: no comparison.md"; exit 1; }; \
	echo "wheel-check: OK ($$(basename "$$tmp"/dist/*.whl), $$(( $$(date +%s) - start )) s)"

clean-venv:
	rm -rf $(VENV)
