#!/usr/bin/env bash
# Regenerates the CRD YAML in crds/ and charts/capstan/crds/ from the Swift types
# (Sources/CapstanAPI). The CRDTests suite fails while the committed files are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -j 2 --product capstan-operator >/dev/null
"$(swift build --show-bin-path)/capstan-operator" crds --output-dir crds --output-dir charts/capstan/crds
