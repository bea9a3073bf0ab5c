# Two commands do all set-up on a fresh machine (python3 >= 3.11 and make):
#   make run    install, generate the bundled sample data if absent, run every plan-month
#   make test   install, lint, run the test suite
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := python3
UV = $(shell ./scripts/bootstrap-uv.sh)
DATA ?= $(if $(CALAIM_DATA_DIR),$(CALAIM_DATA_DIR),data)
# What the Dagster processes create under the data root is owner-only, or readable by the group
# CALAIM_SHARE_GROUP names (calaim_pipeline/filemodes.py; `calaim` sets the same umask itself).
UMASK = $(if $(CALAIM_SHARE_GROUP),027,077)

.PHONY: setup system-deps run run-cycle sample ui ui-readonly ui-home test test-fast test-inner lint format bench bench-statewide bench-statewide-s3 rules-doc clean

setup:
	$(UV) sync --frozen

# DATA (default: CALAIM_DATA_DIR, else ./data) is the data root of every target: `make run DATA=/srv/x`.
sample: setup
	@if [ ! -d "$(DATA)/landing" ]; then CALAIM_DATA_DIR="$(abspath $(DATA))" $(UV) run calaim generate; \
	else echo "sample data present in $(DATA)/landing"; fi

# The bundled sample's CHG 2026-09 fails its blocking reject_rate check by design (the demo's
# expected outcome), so `make run` allows failed checks; `calaim run` alone exits 1 for them.
run: sample
	CALAIM_DATA_DIR="$(abspath $(DATA))" $(UV) run calaim run --month ALL --plan ALL --allow-failed-checks

# The whole monthly cycle on the sample: months in order, each built, marked sent as a simulated
# review, answered by the DHCS simulator (999 + 277CA, labelled simulated) and ingested, so later
# months' corrections carry DHCS ICNs. Use a fresh DATA root: the months it sends are final.
run-cycle: sample
	CALAIM_DATA_DIR="$(abspath $(DATA))" $(UV) run calaim run --month ALL --plan ALL --allow-failed-checks --simulate-dhcs

# `dagster dev` (code location "calaim_pipeline", as `dg dev` would name it: pyproject's
# [tool.dg]): the Dagster webserver and daemon on the same local instance `make run` records into
# (<data root>/dagster_home). The instance settings follow the project's dagster.yaml when it is
# newer than the instance's copy. Loopback only; PORT=3917 make ui for another port.
# Ctrl-C (or SIGTERM to make) stops it with every process it started: calaim_pipeline.ui_server
# runs it in its own process group and stops the whole group (`exec`: make's SIGTERM must reach uv
# and the wrapper, not a shell that would die and leave them running).
UI_SERVER = $(UV) run python -m calaim_pipeline.ui_server
ui: setup ui-home
	umask $(UMASK) && exec env DAGSTER_HOME="$(abspath $(DATA))/dagster_home" CALAIM_DATA_DIR="$(abspath $(DATA))" \
	  $(UI_SERVER) dagster dev -w workspace.yaml -h 127.0.0.1 -p $${PORT:-3000}

# Read-only webserver for compliance reviewers: every page, partition and check result, but no
# launching, re-executing, backfilling or turning schedules and sensors on or off. No daemon: the
# schedule and sensor keep running wherever `make ui` (or production) runs the daemon.
ui-readonly: setup ui-home
	umask $(UMASK) && exec env DAGSTER_HOME="$(abspath $(DATA))/dagster_home" CALAIM_DATA_DIR="$(abspath $(DATA))" \
	  $(UI_SERVER) dagster-webserver --read-only -w workspace.yaml -h 127.0.0.1 -p $${PORT:-3000}

# A fresh instance's storage is created once, under a lock: `make ui` and `make ui-readonly`
# started together on a new data root would both create its sqlite tables, and one would fail.
HOME_DIR = $(abspath $(DATA))/dagster_home
ui-home:
	umask $(UMASK) && mkdir -p "$(HOME_DIR)"
	umask $(UMASK) && cp -u dagster.yaml "$(HOME_DIR)/dagster.yaml"
	umask $(UMASK) && flock "$(HOME_DIR)/.init.lock" sh -c '[ -e "$(HOME_DIR)/history/runs.db" ] || \
	  DAGSTER_HOME="$(HOME_DIR)" CALAIM_DATA_DIR="$(abspath $(DATA))" $(UV) run dagster instance migrate >/dev/null' 

# chromium and postgresql come from Debian; the script installs them when missing.
system-deps:
	./scripts/system-deps.sh

test: setup system-deps lint
	$(UV) run pytest

# Three tiers. test-fast: direct calls of the checks, the rules' examples, the catalogs and the
# month record (marker `fast`, under a minute). test-inner: everything but the end-to-end tests
# marked slow (servers, browsers, daemons). test: all of it, as CI runs it.
# The fast tier's modules say `pytestmark = pytest.mark.fast`; only they are collected.
FAST_TESTS = $(shell grep -l '^pytestmark = pytest.mark.fast' calaim_pipeline_tests/test_*.py)
test-fast: setup
	$(UV) run pytest -m "fast and not slow" -q $(FAST_TESTS)

test-inner: setup lint
	$(UV) run pytest -m "not slow"

lint: setup
	$(UV) run ruff check .
	$(UV) run ruff format --check .

format: setup
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

bench: setup
	$(UV) run python scripts/benchmark.py --lines 1000000 5000000

# 10 plans x 1M lines for one month through `calaim run --plan ALL` (long: tens of minutes).
bench-statewide: setup
	$(UV) run python scripts/benchmark.py --lines 1000000 --statewide

# The statewide month against a data root on object storage (a local S3 server and PostgreSQL).
bench-statewide-s3: setup system-deps
	$(UV) run python scripts/benchmark.py --statewide-only --statewide --object-store

rules-doc: setup
	$(UV) run calaim rules-doc

clean:
	rm -rf data/landing data/truth data/lake data/warehouse data/work data/dagster_home test-output bench-output
