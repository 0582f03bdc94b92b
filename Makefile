# cartwatch: `make run` starts the dashboard, `make test` runs the whole suite.
# Both create and use their own virtual environment in .venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 8501

.PHONY: run test lint typecheck pytest docs bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	@$(BIN)/cartwatch load-sample || echo "warning: the sample cohort was not loaded (see above)"
	$(BIN)/streamlit run dashboard/app.py --server.port $(PORT) --server.headless true \
		--browser.gatherUsageStats false

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest exits 5 when it collected no test: say so plainly rather than fail without a word.
pytest: $(STAMP)
	$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

docs: $(STAMP)
	$(BIN)/cartwatch docs

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_grade_frame.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
