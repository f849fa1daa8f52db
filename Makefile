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
# DATABASE_URL / CELERY_BROKER_URL say otherwise. Ctrl-C stops all of them. Beat is its own
# process, not `worker --beat`, and the worker runs the threads pool, WORKER_CONCURRENCY
# reviews at once (settings: 2 on SQLite, 32 on PostgreSQL): no child process whose death
# would leave the worker running but idle (prism/celery.py has the measurements;
# tests/e2e/test_3_worker_killed.py runs these lines).
# gunicorn and the worker share var/metrics for GET /metrics (prometheus-client's multiprocess
# mode; gunicorn reads gunicorn.conf.py from here); logs stay text unless LOG_FORMAT=json.
run: export PROMETHEUS_MULTIPROC_DIR ?= $(CURDIR)/var/metrics
run: install
	$(BIN)/python -m prism.bootstrap $(PORT)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@trap 'kill $$(jobs -p) 2>/dev/null' EXIT INT TERM; \
	$(BIN)/celery -A prism worker --loglevel info & \
	$(BIN)/celery -A prism beat --loglevel info & \
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
