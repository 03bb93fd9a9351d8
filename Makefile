# The README's two set-up commands: `make demo` and `make test`.
# Both build .venv/ from scratch with nothing but Python 3.11+.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# checkov lives in its own venv: its pins clash with the Azure SDK's.
CHECKOV_VENV  := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
CHECKOV_PIN   := checkov==3.3.30
# The official Azure CLI, for `make conformance`, in a venv of its own too.
CONFORMANCE_VENV  ?= $(VENV)/azure-cli
CONFORMANCE_STAMP := $(CONFORMANCE_VENV)/.installed
AZURE_CLI_PIN     := azure-cli==2.91.0
CONFORMANCE_SCALE ?= 0.01

.PHONY: demo test unit lint check bench fuzz clean

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "aca-warden needs Python 3.11 or newer; found " + sys.version.split()[0])'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

$(CHECKOV_STAMP):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check "$(CHECKOV_PIN)"
	touch $(CHECKOV_STAMP)

# checkov over infra/ (Bicep): fails on findings, parse errors and skips without a reason.
lint: $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/python infra/lint.py --checkov $(CHECKOV_VENV)/bin/checkov

# The code's own rules: ruff (pyproject.toml), mypy --strict on the service, and the
# import contracts of .importlinter (the layering docs/DESIGN.md draws).
check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --strict handlers/
	$(VENV)/bin/lint-imports

demo: $(STAMP)
	$(PY) -m handlers demo

test: $(STAMP) lint check
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

$(CONFORMANCE_STAMP):
	test -x $(CONFORMANCE_VENV)/bin/python || $(PYTHON) -m venv $(CONFORMANCE_VENV)
	$(CONFORMANCE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check "$(AZURE_CLI_PIN)"
	touch $(CONFORMANCE_STAMP)

# Not part of `make test`: the official Azure CLI drives a whole operator session against
# the emulator and the running service (tests/conformance/az_session.py), every step
# checked; about 2.5 minutes once azure-cli is installed.
conformance: $(STAMP) $(CONFORMANCE_STAMP)
	$(PY) tests/conformance/az_session.py --az $(CONFORMANCE_VENV)/bin/az --time-scale $(CONFORMANCE_SCALE)

# Issue 15's benchmark (not part of `make test`; about 13 minutes at Azure's real pace): every
# scenario of `python -m handlers bench all` (burst with the naive baseline side by side,
# triple, failure, throttled, deadline, sweep), each figure next to its bound; exits 1 when
# any bound fails. BENCH_ARGS runs a bench of your own instead, e.g.
# make bench BENCH_ARGS="burst --runs 5" or BENCH_ARGS="deadline --apps 200 --bucket 40/10".
BENCH_ARGS ?= all
bench: $(STAMP)
	$(PY) -m handlers bench $(BENCH_ARGS)

# Fuzzing (hypothesis, tests/fuzz): the "fuzz" profile, over 100,000 examples in all
# (tests/fuzz/conftest.py shares them out; WARDEN_FUZZ_EXAMPLES scales them).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest tests/fuzz -p no:cacheprovider --hypothesis-show-statistics
