# Two commands a newcomer needs: `make demo` and `make test`.
# Both build .venv with the standard library's venv when it is missing or older
# than pyproject.toml, so a fresh machine needs only python3 and pip.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# CI may ask for more extras (EXTRAS="test,forge"); the stamp notices a change.
EXTRAS ?= test
# The editable install is strict (a tree of links, so the type checker resolves andon.*):
# a new or removed package file needs a reinstall, so the stamp also depends on the file list.
FILES := $(VENV)/.files

.PHONY: demo test lint typecheck bench clean FORCE

$(FILES): FORCE
	@mkdir -p $(VENV)
	@{ find store policies engine tui -type f -not -path '*/__pycache__/*' | sort; echo "extras=$(EXTRAS)"; } > $(FILES).new
	@cmp -s $(FILES).new $(FILES) && rm $(FILES).new || mv $(FILES).new $(FILES)

$(STAMP): pyproject.toml $(FILES)
	@echo "== setting up $(VENV) (first time about a minute; later only when files change)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# uv installs in seconds where pip takes a minute or two; pip stays the fallback.
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv 2>/dev/null || true
	@if $(BIN)/python -m uv --version >/dev/null 2>&1; then \
	    $(BIN)/python -m uv pip install --quiet --python $(BIN)/python \
	        --config-setting editable_mode=strict -e '.[$(EXTRAS)]'; \
	else \
	    $(BIN)/python -m pip install --quiet --disable-pip-version-check \
	        --config-settings editable_mode=strict -e '.[$(EXTRAS)]'; \
	fi
	@touch $(STAMP)
	@echo "== $(VENV) ready"

demo: $(STAMP)
	$(BIN)/andon demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/agent_turns.py
	$(BIN)/python bench/daemon_latency.py
	$(BIN)/python bench/board.py
	$(BIN)/python bench/walls.py
	$(BIN)/python bench/readiness_report.py
	$(BIN)/python bench/chaos.py
	$(BIN)/python bench/engines.py

clean:
	rm -rf $(VENV) build *.egg-info
