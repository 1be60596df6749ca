#!/usr/bin/env bash
# Builds the Go tools the tests use (helm, crane, kwok) into a cache folder
# outside the clone, once; later runs find them there. Source it and call
# tools_install; it puts the folder on PATH.

: "${ENCLAVE_CACHE:=/var/cache/enclave}"
export ENCLAVE_TOOLS="$ENCLAVE_CACHE/bin"

tools_install() {
	mkdir -p "$ENCLAVE_TOOLS"
	export PATH="$ENCLAVE_TOOLS:$PATH"
	local spec name
	for spec in helm=helm.sh/helm/v3/cmd/helm@v3.22.0 \
		crane=github.com/google/go-containerregistry/cmd/crane@v0.22.1 \
		kwok=sigs.k8s.io/kwok/cmd/kwok@v0.8.0; do
		name=${spec%%=*}
		[ -x "$ENCLAVE_TOOLS/$name" ] && continue
		echo "building $name (cached in $ENCLAVE_TOOLS)"
		GOBIN="$ENCLAVE_TOOLS" go install "${spec#*=}"
	done
}
