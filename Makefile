# The two commands of the README:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO_DIR := runs/demo
REPLICATE_DIR := runs/replicate
STUDY_DIR := runs/study

.PHONY: setup demo replicate study test test-gpu lint clean-demo

setup: $(VENV)/.setup-done

$(VENV)/.setup-done: requirements.txt requirements-nodeps.txt pyproject.toml models/prepare_embedded.py
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e . --config-settings editable_mode=compat
	$(PY) models/prepare_embedded.py
	touch $@

# One seed of the SST-2 replication, small (sst2/demo.yaml): weak supervisor, naive W2S, ceiling, UF, RW.
demo: setup
	$(PY) replicate.py --task sst2 --seeds 1 --output_dir $(DEMO_DIR) --stage_config sst2/demo.yaml \
		--weight_unlike 0 --safety_n_test 0

# The small-scale replication (sst2/replication.yaml): 3 seeds, with unlikelihood and the ETHICS safety table.
replicate: setup
	$(PY) replicate.py --task sst2 --seeds 1 2 3 --output_dir $(REPLICATE_DIR) \
		--stage_config sst2/replication.yaml --weight_unlike 1.0 --safety_n_test 50

# The study of issue 20 (sst2/study.yaml), resumable; small outputs to study/ (commit); STUDY_FLAGS="--max_minutes 120"
study: setup
	$(PY) -m common.study --config sst2/study.yaml --output_dir $(STUDY_DIR) --publish_dir study $(STUDY_FLAGS)

test: setup
	$(PY) -m pytest -q tests

# ruff with the small rule set of pyproject.toml ([tool.ruff]); `make test` does not run it, CI does.
lint: setup
	$(PY) -m ruff check .

# The tests that need a CUDA GPU (tests/test_cuda.py; `make test` skips them without one).
test-gpu: setup
	$(PY) -m pytest -q -m cuda tests

clean-demo:
	rm -rf $(DEMO_DIR)
