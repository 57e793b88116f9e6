# Capstan — the two commands the README starts with: `make demo` and `make test`.
SWIFT ?= swift
# Two cores: keep the compiler from oversubscribing when tests start servers.
JOBS ?= 2

.PHONY: setup build release test demo bench clean

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build -j $(JOBS)

release: setup
	$(SWIFT) build -c release -j $(JOBS) --product capstan
	$(SWIFT) build -c release -j $(JOBS) --product capstan-feature-worker

# Builds everything (tests need the worker executable for the crash-restart test), then runs
# the whole Swift Testing suite against real redis-server and PostgreSQL.
test: setup
	$(SWIFT) build -j $(JOBS) --build-tests
	$(SWIFT) test -j $(JOBS) --skip-build

# The main job on the embedded default: Redis, PostgreSQL and the Kafka mock cluster on this
# machine (or KAFKA_BROKERS), the example FeatureViews, the generator and the feature worker.
demo: release
	.build/release/capstan demo

bench: setup
	bench/compute.sh
	bench/ingest.sh
	bench/tree_inference.sh

clean:
	rm -rf .build .capstan
