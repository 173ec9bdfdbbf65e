# Two commands a newcomer needs: `make demo` and `make test`.
# Both build .venv with the standard library's venv when it is missing or older
# than pyproject.toml, so a fresh machine needs only python3 and pip.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/andon demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/agent_turns.py
	$(BIN)/python bench/daemon_latency.py
	$(BIN)/python bench/board.py

clean:
	rm -rf $(VENV) build *.egg-info
