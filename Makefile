# Two commands for a fresh machine with only python3:
#   make demo   create .venv, install symgrad, run the seed tour
#   make test   create .venv with the test extra, run every test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/symgrad demo

# one pytest worker per core (a test file stays on one worker), then the timed
# end-to-end runs (marked serial) alone on the machine
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -n auto --dist loadfile -m "not serial"
	$(BIN)/python -m pytest -q -m serial

bench: $(VENV)/.installed
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info
