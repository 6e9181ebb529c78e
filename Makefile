# tidemark — `make help` lists every target.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

VENV     ?= .venv
PY       := $(VENV)/bin/python
BIN      := $(CURDIR)/bin
STACK    := $(PY) local/stack.py
export PATH := $(BIN):$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

##@ Help
.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} \
	  /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Setup
.PHONY: system deps tools setup
system: ## Install the Debian packages the local stack needs (MariaDB, Prometheus, Pushgateway, JDK, Maven)
	@scripts/install-system.sh

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3.11 -m venv $(VENV)
	@$(PY) -m pip install -q -e '.[dev]'
	@touch $@

deps: $(VENV)/.installed ## Create .venv with the project and its pinned dev tools

tools: ## Install pinned helm and kubectl into ./bin
	@scripts/install-tools.sh

setup: system deps tools ## Everything a fresh machine needs

##@ Local stack (real servers on 127.0.0.1)
.PHONY: stack-up stack-down stack-status
stack-up: system deps tools ## Start Kafka, Cassandra, MariaDB, Connect+Debezium, Prometheus, Pushgateway (idempotent)
	@$(STACK) up

stack-down: ## Stop every local stack process
	@$(STACK) down

stack-status: ## Tell which local services are up, with their RSS and log
	@$(STACK) status

##@ Local API server (real etcd, kube-apiserver and kube-controller-manager on 127.0.0.1)
.PHONY: apiserver-up apiserver-down test-apiserver
apiserver-up: deps ## Start the control plane the apiserver tests apply the chart to (builds it once from Go modules: minutes; idempotent)
	@$(PY) local/apiserver.py up

apiserver-down: ## Stop the local control plane (its etcd data stays under .stack/apiserver)
	@$(PY) local/apiserver.py down

test-apiserver: deps tools apiserver-up ## The chart applied to the real API server: CRDs, scenarios, release life, controllers, refusals
	@$(PY) -m pytest -m apiserver

##@ Local node (kubelet + containerd running tidemark's images as Pods on 127.0.0.1)
.PHONY: node-up node-down node-env node-deploy node-remove test-node
node-up: system deps tools ## Start the control plane, kube-scheduler, containerd and a kubelet (builds once; idempotent)
	@$(PY) local/node.py up

node-down: ## Stop the node, kill its Pods and give the host back (sysctls, cgroups, mounts, paths)
	@$(PY) local/node.py down

node-env: ## Print `export KUBECONFIG=…` for ./bin/kubectl and ./bin/helm against the node
	@$(PY) local/node.py env

node-deploy: stack-up node-up ## Build and import the images, install the chart on the node (release and namespace `tidemark`)
	@$(PY) local/node_release.py deploy

node-remove: ## Uninstall the node's release and drop what it wrote
	@$(PY) local/node_release.py remove

test-node: stack-up node-up ## The chart's Pods on the real node: deploy, jobs, executors, kill -9, upgrade, rollback, uninstall
	@$(PY) -m pytest -m node

##@ Pipeline
.PHONY: demo bench
demo: setup stack-up ## Run the tracking pipeline end to end on the local stack and print what it computed
	@$(PY) -m local.demo

bench: stack-up ## Benchmark producer, ingest, aggregate and freshness on the local stack (prints numbers)
	@$(PY) -m bench.pipeline $(BENCH_ARGS)

.PHONY: chaos
chaos: stack-up ## Kill -9 each server and job once under steady load; fail on any event lost or counted twice (CHAOS_ARGS)
	@$(PY) -m local.chaos $(CHAOS_ARGS)

##@ Test
.PHONY: test test-fast lint test-unit test-chart test-integration
test: setup lint stack-up apiserver-up ## The whole suite: every tier under tests/, in the order tests/conftest.py gives (what CI runs)
	@# The slowest tests listed at the end: the suite must fit CI's 90 minutes on a cold machine.
	@$(PY) -m pytest tests --durations=25

test-fast: deps tools ## The quick loop: unit and chart tests (no servers, under a minute)
	@$(PY) -m pytest -m "unit or chart"

lint: deps ## ruff (lint + format check) and mypy strict
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy

test-unit: deps ## Unit tests only (need nothing)
	@$(PY) -m pytest -m unit

test-chart: deps tools ## Chart tests only (render, validate, promtool)
	@$(PY) -m pytest -m chart

test-integration: stack-up ## Integration tests against the local stack
	@$(PY) -m pytest -m integration

##@ Kubernetes (kind; needs Docker)
.PHONY: cluster operators images images-smoke kind-load deploy trigger logs k8s-test down
cluster: tools ## Create the kind cluster (idempotent; kubeconfig in k8s-tests/.kube/config)
	@scripts/k8s.sh cluster

operators: tools ## Install cert-manager, Strimzi 1.2.0, k8ssandra-operator 1.32.5, kube-prometheus-stack (pinned)
	@scripts/k8s.sh operators

images: ## Build the producer, jobs and connect images (Docker where it runs, buildah otherwise)
	@scripts/images.sh build

images-smoke: stack-up ## Run the built images against the local stack
	@$(PY) -m pytest -m images

kind-load: ## Load the built images into the kind cluster
	@scripts/k8s.sh load_images

deploy: tools ## helm upgrade --install the chart into the cluster and wait
	@scripts/k8s.sh deploy

trigger: ## Run a job now from its CronJob: make trigger JOB=aggregate
	@scripts/k8s.sh trigger $(JOB)

logs: ## Show a job's logs: make logs JOB=aggregate
	@scripts/k8s.sh logs $(JOB)

k8s-test: deps tools ## End-to-end tests on kind (skipped with a reason where Docker/kind are absent)
	@$(PY) -m pytest k8s-tests

down: ## Delete the kind cluster
	@scripts/k8s.sh down
