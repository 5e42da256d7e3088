# Every target bootstraps its own virtual environment from the machine's python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# mypy cannot follow the import hook of an editable install whose package
# directories are renamed (the repository root is `loginledger`), so it reads
# the sources through a symlink that carries the installed name.
TYPECHECK := $(VENV)/typecheck

.PHONY: demo test lint typecheck unit bench clean

demo: $(STAMP)
	$(BIN)/loginledger demo

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	@mkdir -p $(TYPECHECK)
	@ln -sfn $(CURDIR) $(TYPECHECK)/loginledger
	MYPYPATH=$(TYPECHECK) $(BIN)/mypy -p loginledger --exclude '/(tests|docs|build)/'
	MYPYPATH=$(TYPECHECK):tests $(BIN)/mypy --explicit-package-bases tests

unit: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m loginledger.adapters.bench $(if $(PG),--postgres,) $(if $(FULL),--full,)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache .hypothesis
