# The two commands a newcomer types: `make run` and `make test`.
# Each creates or reuses .venv and installs what it needs.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
# `mlflow models serve` and DVC stages call console scripts of the venv.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run test lint bench bench-orchestration clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml setup.py | $(PY)
	$(PY) -m pip install --quiet -e ".[dev,dask]"
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/mlflow-tflite run --params params.yaml

# Two workers, one test file each at a time (module fixtures train once): most tests wait
# on subprocesses and servers, so two share 2 cores well (33 min alone, about 20 this way).
# The tests timed to the second (`alone`: a signal ends a command in seconds) run after,
# one at a time, also when the first part failed; both results are reported and either
# failing fails `make test`.
test: lint
	$(PY) -m pytest tests -n 2 --dist loadfile -m "not alone"; parallel=$$?; \
	$(PY) -m pytest tests -m alone; alone=$$?; \
	echo "make test: tests in parallel exit $$parallel, tests alone exit $$alone"; \
	[ $$parallel -eq 0 ] && [ $$alone -eq 0 ]

lint: $(STAMP)
	$(VENV)/bin/ruff check mlflow_tflite flows tests bench

bench: $(STAMP)
	$(PY) bench/bench_variants.py --output bench/RESULTS.md

# ~15 min on 2 cores: flow vs plain script, reruns, Dask fan-out, scaling, start-up.
bench-orchestration: $(STAMP)
	$(PY) bench/bench_orchestration.py --output bench/RESULTS.md

# Everything a run makes that git does not track (the committed reports stay).
clean:
	rm -rf $(VENV) mlflow.db mlruns mlartifacts optuna.db .mlflow_tflite data/prepared \
		reports/models reports/variants.md reports/search_*
