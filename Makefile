# Capstan — the two commands the README starts with: `make demo` and `make test`.
SWIFT ?= swift
# Two cores: keep the compiler from oversubscribing when tests start servers.
JOBS ?= 2

.PHONY: setup build release test demo bench crds protos kubectl-smoke chart-check clean

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build -j $(JOBS)

release: setup
	$(SWIFT) build -c release -j $(JOBS) --product capstan
	$(SWIFT) build -c release -j $(JOBS) --product capstan-feature-worker
	$(SWIFT) build -c release -j $(JOBS) --product capstan-serving

# Builds everything (tests need the worker executable for the crash-restart test), then runs
# the whole Swift Testing suite against real redis-server and PostgreSQL (a failure ends with a
# summary of the failed tests and any crashed thread).
test: setup
	$(SWIFT) build -j $(JOBS) --build-tests
	SWIFT=$(SWIFT) JOBS=$(JOBS) scripts/run-tests.sh

# The main job on the embedded default: Redis, PostgreSQL and the Kafka mock cluster on this
# machine (or KAFKA_BROKERS), the example FeatureViews, the generator and the feature worker;
# then model serving (gateway + model servers) and the operator against an in-process API server.
demo: release
	.build/release/capstan demo

bench: setup
	bench/compute.sh
	bench/ingest.sh
	bench/tree_inference.sh
	bench/predict_e2e.sh
	bench/operator.sh
	bench/upload.sh
	bench/pit.sh
	bench/drift.sh
	bench/batch.sh

# Regenerate committed artefacts: the CRDs (crds/ and the chart's copy) and the gRPC stubs.
crds: setup
	scripts/generate-crds.sh

protos:
	scripts/generate-protos.sh

# kubectl against the in-process API server: apply the CRDs and examples, get, delete.
kubectl-smoke: setup
	$(SWIFT) build -j $(JOBS) --product capstan-apiserver
	Tests/Scripts/kubectl-smoke.sh .build/debug/capstan-apiserver crds examples/k8s

# Helm lint + render, schema validation of every manifest, RBAC checks.
chart-check: setup
	scripts/check-chart.py

clean:
	rm -rf .build bench/.build .capstan
