#!/usr/bin/env bash
# Regenerates the committed Swift code for Capstan's protobuf/gRPC APIs.
#
# Needs protoc (Debian: `apt-get install protobuf-compiler`, 3.21 is fine) and two plugins built
# from the packages Package.swift already depends on, at the same versions:
#
#   protoc-gen-swift          swift-protobuf 1.39.0:
#       git clone --branch 1.39.0 https://github.com/apple/swift-protobuf.git
#       (cd swift-protobuf && swift build -c release --product protoc-gen-swift)
#   protoc-gen-grpc-swift-2   grpc-swift-protobuf 2.4.1:
#       git clone --branch 2.4.1 https://github.com/grpc/grpc-swift-protobuf.git
#       (cd grpc-swift-protobuf && swift build -c release --product protoc-gen-grpc-swift-2)
#
# (On the development machines git reads those addresses from the local mirror.) Point the
# script at the binaries with PROTOC_GEN_SWIFT and PROTOC_GEN_GRPC_SWIFT, or put both in
# PLUGIN_DIR (default /work/tools/bin), or on PATH.
#
# Usage: scripts/generate-protos.sh        (from anywhere; paths are relative to the repo root)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

# One line per proto: "<proto file under protos/> <output directory>". Add new APIs here.
PROTOS=(
  "inference/grpc_predict_v2.proto Sources/CapstanInference/Generated"
  "capstan/gateway/v1/gateway.proto Sources/CapstanGateway/Generated"
  "capstan/ingest/v1/ingest.proto Sources/CapstanIngest/Generated"
)

PROTOC="${PROTOC:-protoc}"
PLUGIN_DIR="${PLUGIN_DIR:-/work/tools/bin}"

find_plugin() { # <env value> <binary name>
  if [[ -n "$1" ]]; then echo "$1"; return; fi
  if [[ -x "$PLUGIN_DIR/$2" ]]; then echo "$PLUGIN_DIR/$2"; return; fi
  if command -v "$2" >/dev/null 2>&1; then command -v "$2"; return; fi
  echo "generate-protos.sh: $2 not found: set ${3} or PLUGIN_DIR (see the comment at the top of this script)" >&2
  exit 1
}
GEN_SWIFT="$(find_plugin "${PROTOC_GEN_SWIFT:-}" protoc-gen-swift PROTOC_GEN_SWIFT)"
GEN_GRPC="$(find_plugin "${PROTOC_GEN_GRPC_SWIFT:-}" protoc-gen-grpc-swift-2 PROTOC_GEN_GRPC_SWIFT)"
command -v "$PROTOC" >/dev/null || { echo "generate-protos.sh: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }

for entry in "${PROTOS[@]}"; do
  read -r proto out <<<"$entry"
  [[ -f "protos/$proto" ]] || { echo "generate-protos.sh: protos/$proto does not exist" >&2; exit 1; }
  mkdir -p "$out"
  base="$(basename "$proto" .proto)"
  rm -f "$out/$base.pb.swift" "$out/$base.grpc.swift"
  "$PROTOC" --proto_path=protos \
    --plugin=protoc-gen-swift="$GEN_SWIFT" \
    --plugin=protoc-gen-grpc-swift-2="$GEN_GRPC" \
    --swift_out="$out" --swift_opt=Visibility=Public,FileNaming=DropPath \
    --grpc-swift-2_out="$out" --grpc-swift-2_opt=Visibility=Public,Server=true,Client=true,FileNaming=DropPath \
    "protos/$proto"
  echo "generated $out/$base.pb.swift $out/$base.grpc.swift from protos/$proto"
done
