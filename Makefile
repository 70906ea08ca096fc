# rawfwd: `make demo` (the main job) and `make test` work on a fresh clone with no other step.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install native demo replay-demo system-deps test lint format typecheck check goldens bench-core bench bench-igmp bench-deps clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

install: $(STAMP)  ## create .venv and install rawfwd with its dev tools

# mypyc compiles the engine into rawfwd/_native/ where a C compiler exists (else it runs
# interpreted, and says so); up to date, this is a hash of a few files. `make test` and
# `make demo` install gcc first (system-deps). RAWFWD_PURE=1 runs the sources anyway.
native: $(STAMP)  ## compile the engine with mypyc (rawfwd.compile), if a C compiler is here
	$(PY) -m rawfwd.compile --if-possible

demo: $(STAMP) system-deps native  ## a namespace network with traffic, rawfwd's live table (root)
	$(VENV)/bin/rawfwd demo

replay-demo: $(STAMP)  ## replay a sample capture through a sample config, no root needed
	$(VENV)/bin/rawfwd replay -c tests/data/routing/rawfwd.toml \
		--in eth0=tests/data/routing/in/eth0.pcap --in eth1=tests/data/routing/in/eth1.pcap \
		--out-dir demo-out

system-deps:  ## Debian packages the demo and the tests need (tshark decodes what we emit, FRR is a PIM peer, in a User-Mode Linux guest where it must forward), installed if missing
	@for p in ip:iproute2 nft:nftables cc:gcc clang:clang tshark:tshark; do \
		command -v $${p%%:*} >/dev/null || missing="$$missing $${p##*:}"; done; \
	[ -e /usr/include/bpf/bpf_helpers.h ] || missing="$$missing libbpf-dev"; \
	[ -x /usr/lib/frr/pimd ] || missing="$$missing frr"; \
	[ -x /usr/bin/linux.uml ] || missing="$$missing user-mode-linux"; \
	if [ -n "$$missing" ]; then apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; fi

test: $(STAMP) system-deps native  ## the whole suite (compiled engine), then the engine's tests interpreted
	$(PY) -m pytest -q
	RAWFWD_PURE=1 $(PY) -m pytest -q tests/core tests/control tests/replay tests/config tests/test_native.py \
		tests/io/test_daemon_send.py

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

bench-core: $(STAMP) native  ## frames/s and us/frame of the pure core, in-process, compiled and interpreted
	$(PY) -m tools.bench.core
	RAWFWD_PURE=1 $(PY) -m tools.bench.core

bench: $(STAMP) system-deps native bench-deps  ## rawfwd vs the kernel (smcroute) in namespaces (root)
	$(PY) -m tools.bench.live

bench-igmp: $(STAMP) system-deps native  ## IGMP join/leave latency with kernel hosts (root)
	$(PY) -m tools.bench.igmp_latency

bench-deps:  ## the traffic generator, the kernel baseline and the sinks, installed if missing
	@for p in tcpreplay:tcpreplay smcrouted:smcroute nft:nftables ethtool:ethtool; do \
		command -v $${p%%:*} >/dev/null || missing="$$missing $${p##*:}"; done; \
	if [ -n "$$missing" ]; then apt-get update -q && apt-get install -y -q $$missing; fi

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache rawfwd/_native
