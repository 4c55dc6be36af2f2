# Two commands on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
DEMO_DIR ?= runs/demo

.PHONY: install demo test lint clean

# The environment: torch first, pinned (a looser requirement would let pip pick a newer, multi-GB CUDA build),
# then the package in editable mode with its test tools. Where pip's index serves the CUDA build of torch (PyPI on
# Linux), give TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu for the CPU-only one.
TORCH_INDEX_URL ?=
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# Train a small PixelCNN on the embedded 8x8 digits, evaluate it exactly, draw samples.
demo: install
	$(BIN)/pixelrnn train --data digits --model pixelcnn-small --epochs 30 --batch-size 32 \
		--schedule exponential --lr 0.003 --lr-decay 0.9995 --sample-every 5 --run-dir $(DEMO_DIR)
	$(BIN)/pixelrnn eval $(DEMO_DIR)/best.pt
	$(BIN)/pixelrnn sample $(DEMO_DIR)/best.pt -n 64 --seed 0 --out $(DEMO_DIR)/samples.png
	@echo "demo outputs: $(DEMO_DIR)/loss_curve.png $(DEMO_DIR)/samples.png $(DEMO_DIR)/metrics.jsonl"

lint: install
	$(BIN)/ruff check src tests

test: install
	$(BIN)/ruff check src tests
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
