# The two commands of the README: `make demo` (set up a fresh machine, run the main job)
# and `make test` (set up if needed, run the default test suite).
PY      ?= python3
VENV    ?= .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.stripes-installed

.PHONY: setup demo test test-slow test-compile test-wheel typecheck lint bench bench-deps clean

$(STAMP): pyproject.toml scripts/setup.sh
	PY=$(PY) VENV=$(VENV) bash scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/stripes demo --overwrite  # its own outputs/demo, replaced on a rerun

# pytest exits 5 when it collected no test: that is a failure here, not a pass.
test: $(STAMP)
	@$(VPY) -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests ran" >&2; exit 1; fi; exit $$rc

# mypy (pinned in the dev extra, configured in pyproject.toml): 0 errors on src/stripes.
typecheck: $(STAMP)
	$(VENV)/bin/mypy

test-slow: $(STAMP)
	$(VPY) -m pytest -q -m slow

# torch.compile through Inductor on a few models (marker `inductor`; minutes: it
# generates and compiles C++).
test-compile: $(STAMP)
	@$(VPY) -m pytest -q -m inductor tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests ran" >&2; exit 1; fi; exit $$rc

# The package as a user installs it (tests/packaging/test_wheel.py): builds the sdist and the
# wheel, installs the wheel into fresh environments (core only, then [music]); -rP prints the list
# of what the core install holds.
test-wheel: $(STAMP)
	@$(VPY) -m pytest -q -rP -m wheel tests/packaging; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests ran" >&2; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

bench: $(STAMP)
	$(VENV)/bin/stripes bench attention --quick

# fast-transformers, the paired baseline of the attention and generation benchmarks (optional).
# It builds C++ extensions against the installed torch (no build isolation); with nvcc on PATH
# its setup insists on CUDA, so the build sees a PATH without it.
bench-deps: $(STAMP)
	env -u CUDA_HOME PATH=$(abspath $(VENV))/bin:/usr/bin:/bin \
	  $(VPY) -m pip install --no-build-isolation pytorch-fast-transformers==0.4.0

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
