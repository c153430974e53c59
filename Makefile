# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# the suite runs in this many processes (pytest-xdist); each has its own Redis, databases and clock file
TEST_PROCESSES ?= 2

.PHONY: run test test-fast bench lint clean worker

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## run: start everything (local Redis, RQ worker, fake nDelius, web) with demo data on SQLite
run: $(STAMP)
	$(PY) scripts/run.py

## test: install what tests need (Chromium included) and run the whole suite on PostgreSQL and SQLite
test: $(STAMP) lint
	scripts/ensure-test-services.sh
	scripts/security-checks.sh
	$(PY) -m pytest -n $(TEST_PROCESSES) --durations=25

test-fast: $(STAMP)
	$(PY) -m pytest -m "not browser" -x

## lint: ruff on all our code; mypy on app/ and jobs/ (every function typed, settings in pyproject.toml), and
## --strict on the pure scheduling core (part of `make test`)
lint: $(STAMP)
	$(VENV)/bin/ruff check app jobs tests
	$(VENV)/bin/mypy app jobs
	$(VENV)/bin/mypy --strict app/scheduling

clean:
	rm -rf $(VENV) instance *.egg-info

## bench: national-volume PostgreSQL dataset, pages under 50 concurrent clients, schedule/roll-up timings (JSON),
## then one table of every figure against its target (scripts/bench_report.py)
bench: $(STAMP)
	scripts/ensure-test-services.sh
	command -v wrk >/dev/null || { apt-get update -qq || true; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	mkdir -p instance/bench && rm -f instance/bench/*.json
	-BENCH_OUTPUT=instance/bench/pages.json $(PY) scripts/bench.py
	-$(PY) scripts/bench_ndelius.py > instance/bench/ndelius.json; cat instance/bench/ndelius.json
	$(PY) scripts/bench_report.py instance/bench/pages.json instance/bench/ndelius.json
