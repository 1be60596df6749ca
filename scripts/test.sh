#!/usr/bin/env bash
# Runs every test of the project on a fresh machine of the project's kind:
# installs what the tests need, starts the real services on loopback, runs
# `go test -race ./...` against them and stops them again.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/services.sh
services_install
. scripts/tools.sh
tools_install
# kube-apiserver, controller-manager, scheduler and kubectl, built once into
# $ENCLAVE_CACHE/kube/bin (about 15 minutes cold). internal/kubetest starts a
# cluster from them for each test that needs one.
. scripts/kube.sh
kube_install
trap services_stop EXIT
services_start

# Every test that needs a real part fails instead of skipping when this is set.
export ENCLAVE_REQUIRE_SERVICES=1
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" $unformatted >&2
	exit 1
fi
go vet ./...
go test -race -count=1 -timeout 45m "$@" ./...
