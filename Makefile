# Two commands on a fresh machine with Python ≥ 3.11 and make: `make run`, `make test`.
SHELL := /bin/bash
PYTHON ?= python3
# uv runs as a module of the Python that bootstrapped it, so no PATH setup is needed.
UV := $(PYTHON) -m uv
export UV_LINK_MODE ?= copy

.PHONY: help install run demo test test-slow fuzz fuzz-shards lint format openapi contract-check bench bench-scale browser promtool clean

help:
	@echo "make run        start Puls (embedded PostgreSQL + Redis unless DATABASE_URL/REDIS_URL are set)"
	@echo "make demo       make run, loading a small demo region into an empty Puls"
	@echo "make test       lint + the whole test suite against real PostgreSQL and Redis"
	@echo "make test-slow  the tests marked slow (over a minute each)"
	@echo "make fuzz       the contract fuzzing alone, 50 cases per operation and key (make test runs 5)"
	@echo "make lint       ruff + mypy + import contracts"
	@echo "make openapi    regenerate openapi/openapi.json"
	@echo "make contract-check  redocly lint + the generated TypeScript client compiled with tsc --strict"
	@echo "make bench      run the benchmarks in bench/"
	@echo "make bench-scale  bench/scale.py at 1, 3 and 10 M time records (about 45 minutes)"
	@echo "make browser    install Debian's Chromium for the browser test of /docs (as root)"
	@echo "make promtool   check docker/prometheus's config and alert rules (installs Debian's prometheus for promtool)"

.venv/.installed: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --user uv \
		|| $(PYTHON) -m pip install --quiet --user --break-system-packages uv \
		|| $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen --compile-bytecode
	@touch $@

# Bytecode is compiled ahead: where PYTHONDONTWRITEBYTECODE is set (it is on CI's machines)
# Python never caches it, and every process the suite starts (APIs, workers, validator
# children) compiled Puls and its libraries from source again: 4.3 s of a core each, 1.9 s
# with bytecode. compileall rewrites only what changed since it last ran.
install: .venv/.installed
	@$(UV) run --frozen python -m compileall -q -j 0 services tests bench migrations >/dev/null

run: install
	$(UV) run --frozen puls run

# `make run` with the demo region loaded into an empty Puls through the API.
demo: install
	PULS_DEMO=1 $(UV) run --frozen puls run

lint: install
	$(UV) run --frozen ruff check services tests migrations bench
	$(UV) run --frozen ruff format --check services tests migrations bench
	$(UV) run --frozen mypy services tests bench
	$(UV) run --frozen lint-imports --no-cache

format: install
	$(UV) run --frozen ruff check --fix services tests migrations bench
	$(UV) run --frozen ruff format services tests migrations bench

# The contract fuzzing runs without xdist: schemathesis' generated cases share their test's
# id, and pytest-xdist, scheduling by id, ran one case per test instead of all of them. Two
# shards run side by side instead, each its own test process (the second one's report follows
# the first's).
# `make test` generates 5 cases per operation and key (about three minutes, the shards side
# by side); `make fuzz` 50. A shard keeps its operations before collection.
FUZZ_EXAMPLES ?= 5
FUZZ = PULS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(UV) run --frozen pytest -m "not slow" tests/fuzz
# -rs prints why a test was skipped (the browser test without Chromium says how to get it).
test: lint contract-check
	$(UV) run --frozen pytest -m "not slow" -n 2 --dist loadfile -rs --ignore=tests/fuzz
	@$(MAKE) --no-print-directory fuzz-shards

fuzz-shards: install
	@log=$$(mktemp); \
	PULS_FUZZ_SHARD=1/2 PULS_TEST_WORKER=gw3 $(FUZZ) >$$log 2>&1 & second=$$!; \
	PULS_FUZZ_SHARD=0/2 PULS_TEST_WORKER=gw2 $(FUZZ); first=$$?; \
	wait $$second; second=$$?; cat $$log; rm -f $$log; \
	[ $$first -eq 0 ] && [ $$second -eq 0 ]

# The contract fuzzing alone, deeper: 50 cases per operation and key.
fuzz: install
	@$(MAKE) --no-print-directory fuzz-shards FUZZ_EXAMPLES=50

test-slow: install
	$(UV) run --frozen pytest -m slow || [ $$? -eq 5 ]  # 5: none marked slow yet

# The browser test of /docs drives Debian's Chromium through chromedriver; without them it is
# skipped with this hint.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null \
		&& echo "chromium and chromedriver are installed" \
		|| { $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y chromium chromium-driver; }

# promtool (Debian's `prometheus` package) checks the scrape config and the alert rules and runs
# their unit tests; tests/test_ops_dashboards.py runs the same and is skipped without it.
promtool:
	@command -v promtool >/dev/null \
		|| { $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y prometheus; }
	cd docker/prometheus && promtool check config prometheus.yml && promtool test rules alerts.test.yml

openapi: install
	$(UV) run --frozen puls openapi

# The contract as its consumers meet it: `redocly lint` with redocly.yaml (no errors, no
# warnings), a TypeScript client generated by openapi-typescript, an integration example that
# must compile with `tsc --strict` and one that must not (a misspelt field, a float amount).
# Node and the packages of clients/typescript/package-lock.json, installed once (npm ci).
TS := clients/typescript
NODE_HELP := contract-check needs Node.js >= 20.19 with npm. On Debian/Ubuntu: 	sudo apt-get install nodejs npm (Debian 13 ships Node 20.19); elsewhere https://nodejs.org. 	Then run make test again.
$(TS)/node_modules/.installed: $(TS)/package.json $(TS)/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "$(NODE_HELP)" >&2; exit 1; }
	cd $(TS) && npm ci --prefer-offline --no-audit --no-fund --loglevel=error
	@touch $@

contract-check: $(TS)/node_modules/.installed
	cd $(TS) && node scripts/lint.mjs
	cd $(TS) && npm run --silent generate >/dev/null
	cd $(TS) && npx --no-install tsc -p tsconfig.json
	cd $(TS) && node scripts/must-fail.mjs

# Every benchmark at its usual size (about 1 M records); bench/scale.py, which repeats ingest and
# the KPI engine at 1, 3 and 10 M records (about 45 minutes on a quiet machine), runs on its own.
bench: install
	@for b in bench/*.py; do case "$$(basename $$b)" in __init__.py|common.py|scale.py) ;; \
		*) $(UV) run --frozen python $$b || exit 1;; esac; done

bench-scale: install
	$(UV) run --frozen python bench/scale.py --sizes 1,3,10 --plot docs/scale.svg

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache
