# Everything a new machine needs: `make run` (the service with the bundled model) and `make test`.
# `install` also builds the default runtime's ONNX graphs (int8 + fp32, ~10 s) once into .venv/share/postergenre, from
# the installed weights: every data folder's first answer then reads them (no torch, no export).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
CLI    := $(VENV)/bin/postergenre
SHARED ?= ../shared/data

.PHONY: install run lint test test-fast catalog benchmarks default-model

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

# Checked on every install (a file check once built): a changed torch/onnx/weights key builds anew.
install: $(VENV)/.installed
	@$(PY) -c 'from postergenre.features.runtime import prepare_installation; prepare_installation()'

# The optional Ray extra (scale-out engine): the tests run it on a local cluster, so `make test` installs it.
$(VENV)/.installed-ray: $(VENV)/.installed requirements-ray.lock
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-ray.lock
	touch $@

# Catalog of the shared posters and the studio's own films (resumable: reruns only do what is missing; a re-import
# of an unchanged file reports its rows unchanged). The studio export's other poster URLs cannot be reached here.
catalog: install
	$(CLI) catalog import $(SHARED)/movies.csv
	$(CLI) catalog import $(SHARED)/studio-catalog/imdb_api_export.csv --collection studio
	$(CLI) posters attach $(SHARED)/posters
	$(CLI) posters attach $(SHARED)/studio-catalog/posters

run: catalog
	$(CLI) embed
	$(CLI) serve

# The static checks, configured in pyproject.toml (seconds): lint, formatting, types. Both test targets run them first.
lint: install
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/mypy

test: lint $(VENV)/.installed-ray
	$(PY) -m pytest

# The quick subset for local work (no catalog embedding, training, Ray, browser or fuzzing); CI runs `make test`.
test-fast: lint
	$(PY) -m pytest -m "not slow"

benchmarks: install
	$(PY) benchmarks/embed_speed.py
	$(PY) benchmarks/quality.py
	$(PY) benchmarks/quality_studio.py
	$(PY) benchmarks/predict_speed.py
	$(PY) benchmarks/serve_load.py
	$(PY) benchmarks/abuse.py

# The bundled model (src/postergenre/models/default): `train`'s defaults, the measured winner. With the studio
# collection imported it trains the poster head on the general films and the studio extensions (domain correction,
# synopsis head, fusion) on the studio's films, chosen by CV on studio films only (~5 min on 2 cores).
# Needs `make catalog` + `postergenre embed` first; the exact command is at the end of its MODEL_CARD.md.
default-model: install
	$(CLI) train --threads 1 --out src/postergenre/models/default
