# Harbour: `make run` and `make test` work on a fresh machine with only Python 3.11 and make.
# Everything else (the virtualenv, PostgreSQL if the machine has none, the Kafka broker, Prometheus for the tests)
# is installed or started by the project itself; see harbour_tools/infra.py and harbour_tools/install_prometheus.sh.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install: the venv is rebuilt only when it is missing or pyproject.toml changed.
STAMP := $(VENV)/.installed
# Three workers on two cores: most tests wait on a broker or the database, not on a core. Whole modules go to one
# worker (--dist loadfile) because each module starts its own broker. `make test PYTEST_WORKERS=` runs serially.
# A worker that dies (pytest-timeout ends a hung one) ends the run, naming its test, instead of being replaced:
# pytest-xdist 3.8's loadfile scheduler can wait forever for a replaced worker (pytest-xdist#1323), which held a CI
# run to its 90-minute limit.
PYTEST_WORKERS ?= -n 3 --dist loadfile --max-worker-restart=0
# This kind of machine sets PYTHONDONTWRITEBYTECODE=1, so every Python process (each pytest worker, each service
# process and CLI a test starts) compiled every module it imported from source, and pytest rewrote every test
# module's asserts again in each worker: collecting the suite took 9.9 s of CPU instead of 4.4 s, importing the
# five services 2.3 s instead of 1.5 s. The bytecode goes to __pycache__ (ignored by git); the install compiles
# the venv's packages ahead, in parallel (uv's --compile-bytecode).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: venv infra tools run test bench down

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || test -n "$(PYTHON)" || { echo "error: Python 3.11+ (python3.11 or python3) is needed" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# uv resolves the same versions pip does (checked: the two freezes are equal) in about a fifth of the time
	@# on a fresh machine (16 s against 73 s), which CI's ten minutes need; pip stays the fallback.
	@{ $(BIN)/python -m pip install --quiet uv && VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/uv pip install --quiet --compile-bytecode -e ".[dev]"; } \
	  || $(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

infra: venv
	$(BIN)/harbour infra up

# Prometheus and promtool (Debian's package, through apt-get when missing): the alert-rule tests and the test that
# runs every dashboard query against a real Prometheus need them.
tools:
	@sh harbour_tools/install_prometheus.sh

# The AsyncAPI CLI, pinned by harbour_tools/asyncapi_cli/package-lock.json, into var/npm (npm ci; nothing global):
# a test validates the committed AsyncAPI documents with it.
.PHONY: asyncapi-cli
asyncapi-cli:
	@sh harbour_tools/install_asyncapi_cli.sh

# axe-core, pinned by harbour_tools/axe_core/package-lock.json, into var/npm/axe: the signals page tests inject it
# into the browser and refuse any serious or critical accessibility violation.
.PHONY: axe-core
axe-core: asyncapi-cli
	@sh harbour_tools/install_axe_core.sh

run: venv
run: docs-assets
	$(BIN)/harbour up --demo

# Everything `make test` installs, side by side: pip (the venv), npm (var/npm) and apt touch separate things and
# mostly wait on the network, so on a fresh machine this takes the longest of the three instead of their sum. The
# two apt installs stay one after the other (dpkg has one lock).
# The three npm trees install side by side too (separate prefixes; npm's cache takes concurrent writers).
.PHONY: prepare apt-packages
prepare:
	@$(MAKE) --no-print-directory -j4 --output-sync=target venv axe-core docs-assets apt-packages

apt-packages:
	@sh harbour_tools/install_prometheus.sh
	@sh harbour_tools/install_chromium.sh

test: prepare
test: infra
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/harbour schemas check
	$(BIN)/pytest -q --durations=15 $(PYTEST_WORKERS)

bench: venv infra
	$(BIN)/python -m bench.append
	$(BIN)/python -m bench.relay
	$(BIN)/python -m bench.e2e
	$(BIN)/python -m bench.heal
	$(BIN)/python -m bench.overload
	$(BIN)/python -m bench.replay
	$(BIN)/python -m bench.growth
	$(BIN)/python -m bench.audiences

# Stops only what `harbour infra up` started (pid files under var/run); no-op without a venv.
down:
	@if test -x $(BIN)/harbour; then $(BIN)/harbour infra down; fi

.PHONY: browser docs-assets
# Debian's chromium (through apt-get when /usr/bin/chromium is missing): the docs page test drives it with Playwright.
browser:
	@sh harbour_tools/install_chromium.sh

# The assets every service's /docs, /redoc and /asyncapi pages load from the service itself (npm ci of the lock file).
docs-assets:
	@sh harbour_tools/install_docs_assets.sh
