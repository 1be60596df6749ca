#!/usr/bin/env bash
# Builds enclave and runs the bundle comparison against crane and skopeo on
# the same images, in one run. Needs docker-registry and skopeo (apt) and
# crane (scripts/tools.sh builds it into $ENCLAVE_TOOLS).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/tools.sh
export PATH="$ENCLAVE_TOOLS:$PATH"
command -v crane >/dev/null || tools_install
bin=$(mktemp -d)/enclave
trap 'rm -rf "$(dirname "$bin")"' EXIT
CGO_ENABLED=0 go build -o "$bin" ./cmd/enclave
go run ./bench/bundle -enclave "$bin" "$@"
