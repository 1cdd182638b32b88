# Fresh-machine entry points: `make book` and `make test` both create or refresh .venv first.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
# Two installs into one .venv, each with its own stamp: the book needs only the base install
# (no torch); the tests add the training side and pytest on top. `make book` after `make test`
# installs nothing; `make test` after `make book` adds only the extras.
BOOK_STAMP = $(VENV)/.installed-book
FULL_STAMP = $(VENV)/.installed-full
PEPR_DATA_DIR ?= $(abspath ../shared/data)
export PEPR_DATA_DIR

.PHONY: venv venv-full test book screenshots clean

venv: $(BOOK_STAMP)

venv-full: $(FULL_STAMP)

$(BOOK_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --no-cache-dir --quiet --upgrade pip
	$(PY) -m pip install --no-cache-dir --quiet -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(BOOK_STAMP)

# torch==2.14.1 / torchvision==0.29.1 are pinned in pyproject.toml's `train` extra. Without an
# NVIDIA driver, torch's CPU build is installed first from PyTorch's index (the pin accepts it),
# where that index answers: CPU=1 insists on it, CPU=0 leaves torch to pip (scripts/install_torch.py).
CPU ?= auto
TORCH_MODE = $(if $(filter 1 yes cpu,$(CPU)),cpu,$(if $(filter 0 no default,$(CPU)),default,auto))
$(FULL_STAMP): $(BOOK_STAMP)
	$(PY) scripts/install_torch.py --mode $(TORCH_MODE)
	$(PY) -m pip install --no-cache-dir --quiet -e '.[train,test]'
	touch $(FULL_STAMP)

test: venv-full
	$(PY) -m pytest $(PYTEST_ARGS)

book: venv
	$(PY) -m pepr book

# Headless-Chromium screenshots of built pages into _build/screenshots (run `make book` first).
screenshots: venv
	$(PY) scripts/screenshots.py

clean:
	rm -rf _build outputs
