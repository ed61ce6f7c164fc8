PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Set before the rules that need it: make expands prerequisites as it reads them.
UI_STAMP := sandbox/ui/node_modules/.installed

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
test: typecheck browser marked-python $(UI_STAMP)
	@$(PY) -m pytest tests/reliability -p no:xdist > $(RELIABILITY_LOG) 2>&1 & reliability=$$!; \
	$(PY) -m pytest --ignore=tests/reliability -n 2 --dist loadfile; rest=$$?; \
	wait $$reliability; status=$$?; cat $(RELIABILITY_LOG); rm -f $(RELIABILITY_LOG); \
	test $$rest -eq 0 && test $$status -eq 0

RELIABILITY_LOG := .reliability.log

# The browser tests' parts (tests/test_ui_browser.py). Debian's chromium and chromium-driver,
# installed with apt-get when missing and running as root; otherwise a message says what to
# install (the tests then fail saying so, unless PLEXSYNC_NO_BROWSER=1 skips them).
.PHONY: browser
browser:
	@if [ "$$PLEXSYNC_NO_BROWSER" = 1 ] || { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's chromium and chromium-driver for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else \
	  echo "make: the browser tests need chromium and chromium-driver: run 'apt-get install chromium chromium-driver' as root (or 'sudo make browser'), or set PLEXSYNC_NO_BROWSER=1 to skip them" >&2; \
	fi

# The install test (tests/test_e2e_install.py) runs the plugin on Debian's own python3, which
# is marked externally managed (PEP 668), with its pip; installed the same way when missing.
.PHONY: marked-python
marked-python:
	@if [ -n "$$PLEXSYNC_EXTERNALLY_MANAGED_PYTHON" ] || /usr/bin/python3 -m pip --version >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's python3 and python3-pip for the install test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-pip >/dev/null; \
	else \
	  echo "make: the install test needs Debian's python3 with pip: run 'apt-get install python3 python3-pip' as root" >&2; \
	fi

# The sandbox page's React and react-bootstrap, exactly as pinned in package-lock.json.
$(UI_STAMP): sandbox/ui/package.json sandbox/ui/package-lock.json
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; } || \
	  { echo "make: npm is needed for the sandbox page's React (apt-get install npm)" >&2; exit 1; }
	cd sandbox/ui && npm ci --no-audit --no-fund --loglevel=error
	@touch $(UI_STAMP)

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
