# Prism: `make run` starts everything on a bare laptop; `make test` runs lint and the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run test lint e2e install migrate clean

$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

install: $(BIN)/.installed

migrate: install
	$(BIN)/python manage.py migrate --noinput

# Web server, worker and beat on the embedded defaults (SQLite, filesystem broker) unless
# DATABASE_URL / CELERY_BROKER_URL say otherwise. Ctrl-C stops all of them.
run: install
	$(BIN)/python -m prism.bootstrap $(PORT)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@trap 'kill $$(jobs -p) 2>/dev/null' EXIT INT TERM; \
	$(BIN)/celery -A prism worker --beat --loglevel info --concurrency 2 & \
	$(BIN)/gunicorn prism.wsgi:application --bind 0.0.0.0:$(PORT) --workers 2 --access-logfile -

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy reviews prism tests benchmarks

test: install lint
	$(BIN)/pytest

# The end-to-end scenarios alone: real PostgreSQL, Redis, gunicorn and Celery processes.
e2e: install
	$(BIN)/pytest tests/e2e

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache .mypy_cache .hypothesis
