PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test typecheck venv clean

venv: $(STAMP)

# Reinstall when either requirements file changes.
$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	@touch $(STAMP)

# Types first: a type error fails `make test` before any test runs. Then two pytest runs
# side by side (most tests wait on plugin processes and emulators, not the CPU): the
# reliability suite alone, in order (its token audit reads every run before it), and the
# rest on two workers, a file per worker (module fixtures and checks stay together).
test: typecheck
	@$(PY) -m pytest tests/reliability -p no:xdist > $(RELIABILITY_LOG) 2>&1 & reliability=$$!; \
	$(PY) -m pytest --ignore=tests/reliability -n 2 --dist loadfile; rest=$$?; \
	wait $$reliability; status=$$?; cat $(RELIABILITY_LOG); rm -f $(RELIABILITY_LOG); \
	test $$rest -eq 0 && test $$status -eq 0

RELIABILITY_LOG := .reliability.log

# mypy over the product packages, as configured in mypy.ini.
typecheck: $(STAMP)
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) bench/results/*.json

.PHONY: demo
# The main job end to end against the local Stash and Plex emulators.
demo: $(STAMP)
	$(PY) -m sandbox.demo

.PHONY: package
# The Stash plugin source: $(DIST)/plexsync.zip + $(DIST)/index.yml (release/build.py,
# standard library only). Serve both files and add index.yml's URL in Stash.
DIST ?= dist
package:
	$(PYTHON) -m release.build --out $(DIST)

.PHONY: reliability
# Only the reliability suite (also part of `make test`): SIGKILLed drains, Plex outages,
# concurrent hooks, corrupt files, malformed inputs, token hygiene; summary in
# bench/results/reliability.json. Larger runs: $(PY) -m bench.reliability --kills 100
reliability: $(STAMP)
	$(PY) -m pytest tests/reliability -p no:xdist
