# Fresh-machine entry points: `make book` and `make test` both create or refresh .venv first.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed
PEPR_DATA_DIR ?= $(abspath ../shared/data)
export PEPR_DATA_DIR

.PHONY: venv test book screenshots clean

venv: $(STAMP)

# torch==2.14.1 / torchvision==0.29.1 are pinned in pyproject.toml (see README: install notes).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --no-cache-dir --quiet --upgrade pip
	$(PY) -m pip install --no-cache-dir --quiet -e '.[test]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

book: venv
	$(PY) -m pepr book

# Headless-Chromium screenshots of built pages into _build/screenshots (run `make book` first).
screenshots: venv
	$(PY) scripts/screenshots.py

clean:
	rm -rf _build outputs
