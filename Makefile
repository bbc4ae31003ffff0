# Two commands a newcomer needs: `make demo` and `make test`. Both create .venv once;
# re-running skips installation unless pyproject.toml changed.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# The CPU build of torch: `+cpu` is a local version label that only CPU wheels carry, so pip
# can never resolve it to a CUDA build. These machines keep the wheel on disk; elsewhere it
# comes from PyTorch's CPU index.
TORCH := torch==2.13.0+cpu
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH)" \
	  || $(PY) -m pip install -q "$(TORCH)" --index-url $(TORCH_CPU_INDEX)
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

.PHONY: install demo test lint bench
install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/steepest train examples/digits.toml

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

test: lint
	$(VENV)/bin/python -m pytest -q

bench: $(STAMP)
	for f in bench/*.py; do $(PY) $$f || exit 1; done
