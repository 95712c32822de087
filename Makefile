# drape: `make demo` sets up and runs the demo; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DRAPE_CACHE_DIR ?= $(CURDIR)/.cache

.PHONY: demo test setup clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/drape demo --out out/demo

GLTF_VALIDATOR := .cache/gltf-validator/node_modules/gltf-validator

# The Khronos glTF validator (npm) checks exported GLBs; its test skips when npm is absent.
$(GLTF_VALIDATOR):
	-command -v npm >/dev/null && npm install --silent --prefix .cache/gltf-validator gltf-validator@2.0.0-dev.3.10

test: $(VENV)/.installed $(GLTF_VALIDATOR)
	$(BIN)/python -m pytest -q -ra

clean:
	rm -rf $(VENV) out .pytest_cache
