# CASL Inspector: the two set-up commands are `make run` and `make test` (see README.md).
#
# Variables a user may set on the command line:
#   PYTHON      interpreter used to create the virtual environment (default: python3.11, else python3)
#   VENV        where the virtual environment lives (default: .venv)
#   TORCH_SPEC  which torch to install first (default: torch==2.13.0, the CPU build);
#               e.g. TORCH_SPEC='torch==2.14.1' takes PyPI's CUDA build for an NVIDIA GPU
#   TORCH_PIP_ARGS  extra pip arguments for that install (an index of your choice, --no-deps ...)
#   RUN_ARGS    arguments passed to the main job (default: the built-in demo)
#   PYTEST_ARGS arguments passed to pytest (default: the whole suite)
#
# `make check` runs only the static checks (ruff lint and format, mypy, import contracts);
# `make test` runs them first, then the tests.

PYTHON ?= $(shell command -v python3.11 >/dev/null 2>&1 && echo python3.11 || echo python3)
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
RUN_ARGS ?= --demo
PYTEST_ARGS ?=
BIN := $(VENV)/bin

# Debian packages the GUI tests need to render under a virtual display, and the
# reference programs the tests compare against.
DEB_TEST_PACKAGES := xvfb xauth libgl1 libglx-mesa0 libgl1-mesa-dri libegl1 \
	libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 \
	libxcb-xinerama0 libxcb-randr0 libxcb-render-util0 libxcb-image0 libdbus-1-3 \
	libfontconfig1 cloudcompare poppler-utils pcl-tools
DEB_RUN_PACKAGES := libgl1 libglx-mesa0 libgl1-mesa-dri libegl1 libxkbcommon-x11-0 \
	libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 \
	libxcb-randr0 libxcb-render-util0 libxcb-image0 libdbus-1-3 libfontconfig1

.PHONY: run test check cli-demo bench deb-test deb-run clean

run: $(BIN)/.installed-gui deb-run
	$(BIN)/casl-gui $(RUN_ARGS)

cli-demo: $(BIN)/.installed-core
	$(BIN)/casl demo

test: check $(BIN)/.installed-test deb-test
	QT_API=pyside6 xvfb-run -a -s "-screen 0 1600x1200x24" $(BIN)/python -m pytest $(PYTEST_ARGS)

# Static checks (configured in pyproject.toml), run before the tests; any failure stops make.
check: $(BIN)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy casl_core
	$(BIN)/lint-imports

bench: $(BIN)/.installed-bench deb-test
	@sh tools/ensure_deb.sh libusb-1.0-0
	for script in benchmarks/bench_*.py; do xvfb-run -a -s "-screen 0 1600x1200x24" $(BIN)/python $$script || exit 1; done

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

$(BIN)/.installed-torch: | $(BIN)/python
	$(BIN)/pip install $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	touch $@

$(BIN)/.installed-core: pyproject.toml $(BIN)/.installed-torch
	$(BIN)/pip install -e .
	touch $@

$(BIN)/.installed-gui: pyproject.toml $(BIN)/.installed-torch
	$(BIN)/pip install -e '.[gui]'
	touch $@

$(BIN)/.installed-test: pyproject.toml $(BIN)/.installed-torch
	$(BIN)/pip install -e '.[gui,test]'
	touch $@

$(BIN)/.installed-bench: pyproject.toml $(BIN)/.installed-torch
	$(BIN)/pip install -e '.[gui,test,bench]'
	touch $@

# Install the Debian packages that are missing, when we are root and apt-get exists;
# otherwise say which ones are missing and go on (the tests that need them will say so).
deb-test:
	@sh tools/ensure_deb.sh $(DEB_TEST_PACKAGES)

deb-run:
	@sh tools/ensure_deb.sh $(DEB_RUN_PACKAGES)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
