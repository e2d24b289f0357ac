# Proofdesk: `make run` opens the app on a demo project; `make test` runs the whole suite.
# Both set up what is missing on first use: Debian packages Qt needs, a .venv with every
# Python dependency (pinned in pyproject.toml), the project itself in editable mode.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the Qt xcb platform plugin needs to open a window under X, plus Xvfb
# and tools used for screenshots of the real window, plus the PostgreSQL server the tests
# start their own throwaway cluster of (tests/pgserver.py), plus the DejaVu fonts the tests' PDFs
# are made with (tests/pdfs.py), plus the fonts synthetic training lines are rendered in (ml/synth.py:
# DejaVu, Liberation, FreeFont).
APT_PACKAGES := libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xinerama0 \
	libxcb-xkb1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-shape0 libxcb-randr0 libegl1 libgl1 \
	libfontconfig1 libdbus-1-3 xvfb xauth postgresql fonts-dejavu-core fonts-dejavu-extra \
	fonts-liberation2 fonts-freefont-ttf fonts-noto-mono
APT_STAMP := $(VENV)/.apt

.PHONY: run test lint setup system-packages clean bundle test-bundle bench

run: setup
	$(BIN)/proofdesk gui $(PROJECT)

test: setup
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: setup
	$(BIN)/lint-imports
	$(BIN)/ruff check .

setup: $(APT_STAMP) $(STAMP)

$(APT_STAMP): Makefile
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = "0" ]; then \
			echo "installing Debian packages:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else \
			echo "Qt and the tests need these Debian packages; please run:"; \
			echo "  sudo apt-get install -y$$missing"; \
			exit 1; \
		fi; \
	fi
	@mkdir -p $(VENV) && touch $(APT_STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

clean:
	rm -rf $(VENV) build dist .pytest_cache

# Installers (README "Installers"): a PyInstaller one-folder build per flavour, dist/<flavour>/Proofdesk,
# and its Linux archive dist/Proofdesk-<version>-linux-x86_64-<flavour>.tar.gz. `make bundle FLAVOURS=cpu`
# builds one. Builds run at the lowest priority: they take minutes and every core.
FLAVOURS ?= cpu gpu
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)

bundle: setup
	@for f in $(FLAVOURS); do \
		echo "== building the $$f flavour (dist/$$f/Proofdesk)"; \
		PROOFDESK_FLAVOUR=$$f nice -n 19 $(BIN)/pyinstaller --noconfirm --clean --log-level WARN \
			--distpath dist/$$f --workpath build/$$f packaging/proofdesk.spec || exit 1; \
		packaging/linux/make-archive.sh dist/$$f/Proofdesk dist/Proofdesk-$(VERSION)-linux-x86_64-$$f.tar.gz || exit 1; \
	done

# The built app's smoke test (slow: builds the cpu flavour first when it is missing or older than
# the sources, then runs `Proofdesk --selftest` offscreen and under Xvfb).
test-bundle: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider -m slow tests/packaging/test_bundle.py $(PYTEST_ARGS)

# Benchmarks whose figures are in docs/benchmarks.md (minutes; run on a quiet machine). The review,
# neural and training-GUI benchmarks take a generated or imported project: see each script's
# docstring and docs/benchmarks.md.
bench: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python bench/bench_workspace.py
	$(BIN)/python bench/bench_prefill.py
	$(BIN)/python bench/bench_neural.py ../shared/datasets/sroie-dev
