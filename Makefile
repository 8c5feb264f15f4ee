# Everything runs inside .venv. torch==2.13.0 is installed first and pinned (constraints.txt) for every
# later install: any other torch version would pull gigabytes of CUDA packages.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo demo-fast update-demo domains-demo test test-slow lint bench clean

# The rest is installed by uv (parallel downloads and installs: 74 s against pip's 217 s here, README), itself
# installed into the venv by pip when it is not on the PATH; INSTALLER=pip uses pip for everything. torch comes
# first from pip, which finds the CPU wheel on this disk (uv does not look there).
INSTALLER ?= uv
EXTRAS ?= dev,tensorboard,eval

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	@if [ "$(INSTALLER)" = uv ] && { command -v uv >/dev/null || $(BIN)/pip install --quiet --disable-pip-version-check uv; } \
		&& echo "uv pip install -e .[$(EXTRAS)]" \
		&& $$(command -v uv || echo $(BIN)/uv) pip install --quiet --python $(BIN)/python -c constraints.txt -e ".[$(EXTRAS)]"; then :; \
	else \
		echo "pip install -e .[$(EXTRAS)]"; \
		$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[$(EXTRAS)]"; \
	fi
	@touch $(STAMP)

# The whole pipeline on the bundled medical ontology and corpus with the tiny MoE preset (pipelines/demo.yaml):
# graph → corpus → instructions → kg_sft → distill → reinforce → evaluation report. A second run does nothing.
demo: $(STAMP)
	$(BIN)/kgtools run pipelines/demo.yaml

# The same stages with a few dozen training steps each (CI runs it after the tests).
demo-fast: $(STAMP)
	$(BIN)/kgtools run pipelines/demo-fast.yaml

# Knowledge updates on three real DOID releases (pipelines/update-demo.yaml), beside the naive baselines.
KGTOOLS_SHARED_ONTOLOGIES ?= $(abspath ../shared/ontologies)
update-demo: $(STAMP)
	KGTOOLS_SHARED_ONTOLOGIES=$(KGTOOLS_SHARED_ONTOLOGIES) $(BIN)/kgtools run pipelines/update-demo.yaml

# Two domains (the bundled medical and finance ontologies) on one tiny MoE (pipelines/domains-demo.yaml): a shared
# base, one adapter per domain on disjoint expert sets, each domain's evaluation and the cross-domain one.
domains-demo: $(STAMP)
	$(BIN)/kgtools run pipelines/domains-demo.yaml

test: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

test-slow: $(STAMP)
	$(BIN)/pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check kgtools tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_kg.py
	$(BIN)/python benchmarks/bench_train.py

clean:
	rm -rf artifacts artifacts-fast artifacts-update artifacts-domains .pytest_cache
