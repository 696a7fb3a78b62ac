# Two commands on a fresh machine: `make run` (the registry with its demo data) and `make test` (every test).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test install lint bench migrate demo worker beat clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet '.[test]'
	touch $@

install: $(VENV)/.installed

.env:
	@$(PY) -c "import secrets; print('DEBUG=true'); print('SECRET_KEY=' + secrets.token_urlsafe(50))" > .env
	@echo "Wrote a development .env (DEBUG=true, random SECRET_KEY)."

migrate: install .env
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py load_demo

run: demo
	@echo "Serving the registry on http://$(HOST):$(PORT)/ (log in with a demo account above; Ctrl-C stops)."
	$(PY) manage.py runserver $(HOST):$(PORT)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

bench: install
	$(PY) -m bench $(BENCH_ARGS)

worker: install .env
	$(VENV)/bin/celery -A registry worker --loglevel=info

beat: install .env
	$(VENV)/bin/celery -A registry beat --loglevel=info

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
