# Everything installs into .venv from the pinned lock (requirements/lock.txt), the same lock the images use.
PYTHON ?= python3
VENV ?= .venv
UV_VERSION ?= 0.13.9
BIN := $(VENV)/bin

.PHONY: install controlplane tools node-deps browser local-cluster demo test lint typecheck unit unit-zones integration e2e \
	bench mutation lock version

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --compile-bytecode: every first import of the 1,200 modules a run loads would compile them otherwise (about 3 s
# on this machine class, paid by the first `retrodiction train` and by each test process that imports them).
# The project's own packages install editable, which compiles nothing: compileall writes their bytecode as a wheel's
# install does. Without it, where PYTHONDONTWRITEBYTECODE is set (CI machines), every command and test process
# compiles the hundred modules of ours it imports, each time: 0.3 s of a `retrodiction train`'s start.
install: $(BIN)/uv
	$(BIN)/uv pip sync --quiet --compile-bytecode -p $(BIN)/python requirements/lock.txt
	$(BIN)/uv pip install --quiet -p $(BIN)/python --no-deps -e . -e harness -e examples/plugin-model
	$(BIN)/python -m compileall -q operator/retrodiction harness/src examples/plugin-model/src >/dev/null

# etcd, kube-apiserver, kube-controller-manager, kubectl and helm for the e2e tier: taken from
# $KUBEBUILDER_ASSETS, or built once from the Go modules into ~/.cache/retrodiction-operator (minutes, cold).
controlplane:
	bash hack/controlplane/build.sh >/dev/null

# The real node's parts: Debian packages (containerd, runc, CNI plugins, iptables, podman, mmdebstrap...),
# installed with apt-get when missing (root only; CI machines are fresh; about 25 s), and kubelet, kube-proxy and
# kube-scheduler built from the control plane's Go module into the same cache (about 3 min after the control
# plane's build, seconds when cached).
node-deps: controlplane
	bash hack/node/packages.sh
	bash hack/controlplane/build.sh --node >/dev/null
	bash hack/coredns/build.sh >/dev/null

# actionlint for tests/unit/test_workflows.py: built once from its Go module into ~/.cache/retrodiction-operator/tools.
tools:
	bash hack/tools/build.sh >/dev/null

# Headless Chromium and its driver from Debian's packages, for the browser tests (selenium drives them): installed
# with apt-get when /usr/bin/chromium or /usr/bin/chromedriver is missing (root; about 25 s, once). Nothing is
# installed without root, or where RETRODICTION_CHROMIUM names another build (GitHub's runners have Chrome); the
# browser tests then skip without a browser, or fail under CI=true.
browser:
	@if [ -n "$$RETRODICTION_CHROMIUM" ] || { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "browser: chromium is missing, and installing it needs root" >&2; exit 0; fi; \
	export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && \
	apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2

# A local control plane with the node stand-in, the CRDs and the dask-kubernetes controller, for people: prints its
# KUBECONFIG, runs until ^C. NODE=real: a real kubelet + containerd node instead (root), with CoreDNS and the images
# built from worker_image/Dockerfile, ready for `helm install` (the printed command); the first start builds for
# minutes. Both run `retrodiction-cluster` (the harness's command, harness/; `retrodiction-cluster --help`).
NODE ?= standin
local-cluster: install controlplane $(if $(filter real,$(NODE)),node-deps)
	$(BIN)/retrodiction-cluster --node $(NODE)

# The main job: a full training on the bundled US macroeconomic data, on a local Dask cluster.
demo: install
	$(BIN)/retrodiction train examples/training-macrodata.yaml --workers 2 \
		--output out/macrodata-summary.json --report out/macrodata-report.html

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# pyproject.toml's [tool.mypy] lists what is checked, strictly: the package, the tests, the benchmarks and
# hack/release.
typecheck:
	$(BIN)/mypy

# The whole suite: lint, types, then unit, integration and e2e tests, then the unit tier again under other time
# zones. pytest exits non-zero when a test fails and also when it collects nothing (exit code 5), so an empty run
# can never pass.
test: install controlplane tools node-deps browser lint typecheck
	$(BIN)/pytest
	$(MAKE) --no-print-directory unit-zones

unit: install
	$(BIN)/pytest tests/unit

# CI machines run in UTC, where code that reads a naive time as local time passes. These zones have an offset all
# year, one of them not a whole hour, one with daylight saving; tests/unit/test_times.py checks the zone took effect.
TEST_ZONES ?= America/Los_Angeles Asia/Kolkata
unit-zones: install
	$(foreach zone,$(TEST_ZONES),TZ=$(zone) $(BIN)/pytest -q tests/unit &&) true

# Mutation testing of the pure core (hack/mutation/targets.toml) with mutmut: a score per module, at least 95% of the
# mutants that change behaviour killed (hack/mutation/equivalent/ lists the others, with a reason each). About 10
# minutes on 2 cores; not part of `make test`. ARGS="--module batches" runs one module.
mutation: install
	$(BIN)/python -m hack.mutation.run $(ARGS)

integration: install browser
	$(BIN)/pytest tests/integration

e2e: install controlplane
	$(BIN)/pytest tests/e2e

# One after another, never two at once: each measures against a baseline of its own run on the same cores.
bench: install
	$(BIN)/python benchmarks/engine_vs_statsforecast.py
	$(BIN)/python -m benchmarks.cli_startup
	$(BIN)/python -m benchmarks.local_cluster
	$(BIN)/python -m benchmarks.operator_overhead
	$(BIN)/python -m benchmarks.custom_models

# lock.txt pins everything the tests use (the `test` extra holds every other); operator.txt and worker.txt are what
# each image installs (its extra of pyproject.toml), constrained to the same versions.
IMAGE_LOCKS := operator worker
lock: $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml --extra test --extra bench --extra mutation --python-version 3.11 \
		-o requirements/lock.txt
	$(foreach image,$(IMAGE_LOCKS),$(BIN)/uv pip compile pyproject.toml --extra $(image) -c requirements/lock.txt \
		--python-version 3.11 -o requirements/$(image).txt &&) true

# A new version, written everywhere it is kept (pyproject.toml, Chart.yaml's version and appVersion; see
# hack/release/version.py), then the editable install refreshed so that `retrodiction --version` reports it.
# Releasing: CONTRIBUTING.md.
version: install
	@test -n "$(VERSION)" || { echo "usage: make version VERSION=X.Y.Z" >&2; exit 2; }
	$(BIN)/python -m hack.release.version stamp $(VERSION)
	$(BIN)/uv pip install --quiet -p $(BIN)/python --no-deps -e .
