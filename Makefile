# Torch Trader — `make demo` and `make test` set everything up on a fresh machine (offline but for
# the package registries) and run. Every target uses the project's own .venv.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# checkov (infra checks) pins libraries the project also uses, so it lives in its own tool venv.
IAC_VENV := .venv-iac
CHECKOV_VERSION := 3.3.30
# uv installs the packages (pip only bootstraps it and takes torch's wheel from this disk).
UV_SPEC := uv==0.13.9
UV := $(VENV)/bin/uv
# uv trusts the system's certificates, as pip does here (a TLS-inspecting proxy's CA among them), and
# compiles bytecode at install, as pip does (else the first test run compiles every module it imports).
export UV_NATIVE_TLS := 1
export UV_COMPILE_BYTECODE := 1
# Quiet, offline-safe defaults for every tool the pipeline touches.
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export RAY_USAGE_STATS_ENABLED := 0
export DO_NOT_TRACK := true
export MPLBACKEND := Agg
export MLFLOW_ENABLE_TELEMETRY := false
export GX_ANALYTICS_ENABLED := false
export PYTHONUNBUFFERED := 1
export NO_MKDOCS_2_WARNING := 1
export DISABLE_MKDOCS_2_WARNING := true

.PHONY: install demo test lint typecheck unit docs bench bench-gpu up down deploy clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { command -v apt-get >/dev/null && apt-get update -qq && apt-get install -y -qq python3 python3-venv python3-dev build-essential; }
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned, with pip: the CPU wheel on this disk, never a multi-GB CUDA download.
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	# The rest with uv (from PyPI, several times faster than pip); the installed torch satisfies it.
	$(PY) -m pip install -q $(UV_SPEC)
	$(UV) pip install -q --python $(PY) -c constraints.txt -e '.[dev,bench]'
	# Debian packages the tests drive for real: chromium (playwright drives it; never a downloaded
	# browser) and the PostgreSQL server (the state store's Postgres test).
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
	  || echo "warning: could not install Debian's chromium: the browser tests will fail" >&2
	command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
	  || { apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; } \
	  || echo "warning: could not install the PostgreSQL server: its state-store test will fail" >&2
	test -x $(IAC_VENV)/bin/checkov || { $(PYTHON) -m venv $(IAC_VENV) && $(UV) pip install -q --python $(IAC_VENV)/bin/python checkov==$(CHECKOV_VERSION); }
	touch $(STAMP)

demo: install
	$(PY) -m flows.demo

lint: install
	$(VENV)/bin/ruff check torchtrader tasks flows tests bench
	$(VENV)/bin/ruff format --check torchtrader tasks flows tests bench

typecheck: install
	$(VENV)/bin/mypy

unit: install
	$(VENV)/bin/pytest -q

# The documentation site builds with every warning an error (broken links, bad docstrings).
docs: install
	$(VENV)/bin/mkdocs build --strict --quiet --site-dir .site

test: lint typecheck docs unit

bench: install
	$(PY) -m bench.run_all

# Local services on 127.0.0.1 (state and logs in .services/): Prefect server + worker, MLflow, dashboard.
up: install
	$(VENV)/bin/torchtrader services up

down:
	@test -x $(VENV)/bin/torchtrader && $(VENV)/bin/torchtrader services down || true

# Register every deployment of deployments/prefect.yaml with the local server (`make up` first); the
# file is checked first so a malformed entry is one line, not a half-registered set.
deploy: install
	$(PY) -c "from torchtrader.ops.deployments import check_prefect_yaml; check_prefect_yaml('deployments/prefect.yaml')"
	TORCHTRADER_HOME=$(CURDIR) PREFECT_API_URL=http://127.0.0.1:4200/api $(VENV)/bin/prefect --no-prompt deploy --prefect-file deployments/prefect.yaml --all

# On a machine with CUDA: every CUDA test and the GPU benchmarks, one report (docs/benchmarks/gpu.md).
bench-gpu: install
	$(PY) -m bench.bench_gpu

clean:
	rm -rf $(VENV) $(IAC_VENV) .mypy_cache .ruff_cache
