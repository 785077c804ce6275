# The two commands of the README:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO_DIR := runs/demo
# Small-run settings: 48 questions per pool, and a higher lr / smaller batch than the paper's (5e-5, 24) so that
# a few optimiser steps move the 135M/270M models at all. The paper's settings are the scripts' defaults.
DEMO_FLAGS := --limit 48 --lr 1e-3 --epochs 2 --effective_batch_size 8 --query_max_new_tokens 16 --output_dir $(DEMO_DIR)

.PHONY: setup demo test clean-demo

setup: $(VENV)/.setup-done

$(VENV)/.setup-done: requirements.txt requirements-nodeps.txt pyproject.toml models/prepare_embedded.py
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e . --config-settings editable_mode=compat
	$(PY) models/prepare_embedded.py
	touch $@

demo: setup
	$(PY) mmlu/create_weak_supervisor_on_mmlu.py $(DEMO_FLAGS)
	$(PY) mmlu/baseline_SFT_weak_supervision.py $(DEMO_FLAGS)
	$(PY) mmlu/baseline_SFT_on_groundtruth.py $(DEMO_FLAGS)
	$(PY) mmlu/our_method_uncertainty_filtering.py --do_sampling $(DEMO_FLAGS)
	$(PY) mmlu/our_method_reweighting.py --do_sampling $(DEMO_FLAGS)
	$(PY) -m common.results_table $(DEMO_DIR)

test: setup
	$(PY) -m pytest -q tests

clean-demo:
	rm -rf $(DEMO_DIR)
