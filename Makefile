# Two commands on a fresh machine with Python ≥ 3.11 and make: `make run`, `make test`.
SHELL := /bin/bash
PYTHON ?= python3
# uv runs as a module of the Python that bootstrapped it, so no PATH setup is needed.
UV := $(PYTHON) -m uv
export UV_LINK_MODE ?= copy

.PHONY: help install run test test-slow lint format openapi bench browser promtool clean

help:
	@echo "make run        start Puls (embedded PostgreSQL + Redis unless DATABASE_URL/REDIS_URL are set)"
	@echo "make test       lint + the whole test suite against real PostgreSQL and Redis"
	@echo "make test-slow  the tests marked slow (over a minute each)"
	@echo "make lint       ruff + mypy + import contracts"
	@echo "make openapi    regenerate openapi/openapi.json"
	@echo "make bench      run the benchmarks in bench/"
	@echo "make browser    install Debian's Chromium for the browser test of /docs (as root)"
	@echo "make promtool   check docker/prometheus's config and alert rules (installs Debian's prometheus for promtool)"

.venv/.installed: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --user uv \
		|| $(PYTHON) -m pip install --quiet --user --break-system-packages uv \
		|| $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

install: .venv/.installed

run: install
	$(UV) run --frozen puls run

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
FUZZ = $(UV) run --frozen pytest -m "not slow" tests/fuzz
# -rs prints why a test was skipped (the browser test without Chromium says how to get it).
test: lint
	$(UV) run --frozen pytest -m "not slow" -n 2 --dist loadfile -rs --ignore=tests/fuzz
	@log=$$(mktemp); \
	PULS_FUZZ_SHARD=1/2 PULS_TEST_WORKER=gw3 $(FUZZ) >$$log 2>&1 & second=$$!; \
	PULS_FUZZ_SHARD=0/2 PULS_TEST_WORKER=gw2 $(FUZZ); first=$$?; \
	wait $$second; second=$$?; cat $$log; rm -f $$log; \
	[ $$first -eq 0 ] && [ $$second -eq 0 ]

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

bench: install
	@for b in bench/*.py; do [ "$$(basename $$b)" = "__init__.py" ] || [ "$$(basename $$b)" = "common.py" ] || $(UV) run --frozen python $$b || exit 1; done

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache
