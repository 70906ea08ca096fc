# rawfwd: `make demo` (the main job) and `make test` work on a fresh clone with no other step.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo replay-demo system-deps test lint format typecheck check goldens bench-core bench bench-igmp bench-deps clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

install: $(STAMP)  ## create .venv and install rawfwd with its dev tools

demo: $(STAMP) system-deps  ## a namespace network with traffic, rawfwd's live table (root)
	$(VENV)/bin/rawfwd demo

replay-demo: $(STAMP)  ## replay a sample capture through a sample config, no root needed
	$(VENV)/bin/rawfwd replay -c tests/data/routing/rawfwd.toml \
		--in eth0=tests/data/routing/in/eth0.pcap --in eth1=tests/data/routing/in/eth1.pcap \
		--out-dir demo-out

system-deps:  ## Debian packages the demo and the namespace tests need, installed if missing
	@for p in ip:iproute2 nft:nftables; do \
		command -v $${p%%:*} >/dev/null || missing="$$missing $${p##*:}"; done; \
	if [ -n "$$missing" ]; then apt-get update -q && apt-get install -y -q $$missing; fi

test: $(STAMP) system-deps  ## the whole test suite
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check rawfwd tests tools examples
	$(VENV)/bin/ruff format --check rawfwd tests tools examples

format: $(STAMP)
	$(VENV)/bin/ruff format rawfwd tests tools examples
	$(VENV)/bin/ruff check --fix rawfwd tests tools examples

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict rawfwd tools

check: lint typecheck test  ## everything CI runs

goldens: $(STAMP)  ## regenerate tests/data goldens on purpose (review the diff!)
	$(PY) -m tests.support.goldens --regenerate

bench-core: $(STAMP)  ## frames/s and us/frame of the pure core, in-process
	$(PY) -m tools.bench.core

bench: $(STAMP) system-deps bench-deps  ## rawfwd vs the kernel (smcroute) in namespaces (root)
	$(PY) -m tools.bench.live

bench-igmp: $(STAMP) system-deps  ## IGMP join/leave latency with kernel hosts (root)
	$(PY) -m tools.bench.igmp_latency

bench-deps:  ## the traffic generator, the kernel baseline and the sinks, installed if missing
	@for p in tcpreplay:tcpreplay smcrouted:smcroute nft:nftables; do \
		command -v $${p%%:*} >/dev/null || missing="$$missing $${p##*:}"; done; \
	if [ -n "$$missing" ]; then apt-get update -q && apt-get install -y -q $$missing; fi

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
