# nacosfast — the two commands: `make run` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORE_SOURCES := $(wildcard _core/*.pyx _core/*.pxd _core/*.pyi) setup.py
CORE_BUILT := $(VENV)/.core-built
HOST ?= 127.0.0.1
PORT ?= 8848
DATA_DIR ?= ./data

.PHONY: run test lint core bench bench-fleet clean install-system-deps install-bench-tools

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "nacosfast needs Python >= 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "setuptools>=80" wheel "cython==3.3.1"
	$(BIN)/python -m pip install --quiet --no-build-isolation -e '.[test]'
	touch $@

# The compiled core is not optional: a failed build stops here, loudly.
$(CORE_BUILT): $(STAMP) $(CORE_SOURCES)
	$(BIN)/python setup.py --quiet build_ext --inplace
	$(BIN)/python -c 'import nacosfast._core.registry, nacosfast._core.beats, nacosfast._core.digest, nacosfast._core.writes, nacosfast._core.fastpath'
	touch $@

core: $(CORE_BUILT)

run: $(CORE_BUILT)
	$(BIN)/nacosfast server --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

lint: $(CORE_BUILT)
	$(BIN)/ruff check nacosfast tests bench setup.py
	$(BIN)/ruff format --check nacosfast tests bench setup.py
	$(BIN)/mypy
	$(BIN)/python -m mypy.stubtest nacosfast._core.registry nacosfast._core.beats nacosfast._core.digest nacosfast._core.writes nacosfast._core.fastpath

NODE_CLIENT := tests/node/node_modules/.installed

# The real Node nacos-naming client for the push tests, pinned by tests/node/package-lock.json.
$(NODE_CLIENT): tests/node/package.json tests/node/package-lock.json
	npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
	touch $@

# MariaDB for the MySQL health-check tests (they start their own server on a loopback port), and
# Debian's Chromium and its chromedriver for the console's browser test, and a real etcd (Debian's
# etcd-server, 3.4 or later) with openssl for its TLS test certificates (CI is a fresh clone, as root).
install-system-deps:
	command -v mariadbd >/dev/null 2>&1 || test -x /usr/sbin/mariadbd || (apt-get update && apt-get install -y mariadb-server)
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update && apt-get install -y chromium chromium-driver)
	(command -v etcd && command -v openssl) >/dev/null || (apt-get update && apt-get install -y etcd-server openssl)

test: lint $(NODE_CLIENT) install-system-deps
	$(BIN)/python -m pytest tests
	$(BIN)/python -m pytest bench --benchmark-disable -q

# wrk and nginx for bench/wrk_compare.sh, tcpdump for bench/beat_fleet.sh (benchmarks only; tests do
# not need them).
BENCH_TOOLS := wrk nginx curl taskset ss tcpdump
install-bench-tools:
	@for tool in $(BENCH_TOOLS); do command -v $$tool >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then apt-get update && apt-get install -y wrk nginx curl util-linux iproute2 tcpdump; fi

# The micro-benchmarks, then the wrk ratios to nginx (list, list-udp, beat, register, list-close) with
# server CPU us per request (a fresh server on core 0, wrk on core 1; quote them only from a quiet
# machine: see bench/README.md).
bench: $(CORE_BUILT) install-bench-tools
	$(BIN)/python -m pytest bench --benchmark-only --benchmark-columns=min,median,mean,ops
	bench/wrk_server.sh $(BIN)/python

# 100,000 instances beating every 5 s: the server's beat latency from a packet capture, CPU per beat
# and bytes per instance, medians of 3 fresh servers (INSTANCES=200000 for 40,000 beats/s).
bench-fleet: $(CORE_BUILT) install-bench-tools
	bench/beat_fleet.sh $(BIN)/python

clean:
	rm -rf build $(VENV) nacosfast/_core/*.so nacosfast/_core/*.pyi _core/*.c
