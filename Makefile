# Everything runs inside .venv. torch==2.13.0 is installed first and pinned (constraints.txt) for every
# later install: any other torch version would pull gigabytes of CUDA packages.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test test-slow lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

# Until the whole pipeline exists: the knowledge graph of the bundled medical ontology and its statistics,
# one concept, the medical corpus (verbalised graph + linked raw text) and the instruction data.
demo: $(STAMP)
	$(BIN)/kgtools kg build ontologies/medical.ttl --artifacts artifacts
	$(BIN)/kgtools kg show "influenza" --kg artifacts
	$(BIN)/kgtools corpus build --kg artifacts --texts corpora/medical --out artifacts --paraphrases 2
	$(BIN)/kgtools synth build --kg artifacts --out artifacts

test: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

test-slow: $(STAMP)
	$(BIN)/pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check kgtools tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_kg.py

clean:
	rm -rf artifacts .pytest_cache
