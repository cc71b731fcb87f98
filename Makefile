# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv if missing, installs torch first (TORCH_SPEC), then the project.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
GLUE_DIR ?= $(if $(wildcard ../shared/glue_data),$(abspath ../shared/glue_data),)
export GLUE_DIR
BIN := $(VENV)/bin
STAMP := $(VENV)/.bert_ofa_installed

.PHONY: test demo install bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[test,demo,onnx]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

demo: $(STAMP)
	$(BIN)/python run_glue_ofa.py --demo --output_dir outputs/demo

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_elastic.py

clean:
	rm -rf $(VENV) outputs
