#!/usr/bin/env bash
# A real Kubernetes control plane for the tests: kube-apiserver,
# kube-controller-manager, kube-scheduler and kubectl built from the Go module
# proxy, etcd from Debian's etcd-server, and kwok (from scripts/tools.sh) to
# play one fake node so that pods are scheduled, become Ready and Jobs complete.
#
# Source it, then:
#   kube_install   builds the binaries into $ENCLAVE_CACHE/kube/bin when missing
#                  and exports ENCLAVE_KUBE_BIN (the Go helper internal/kubetest
#                  starts its own cluster from there).
#   kube_start     starts a cluster on loopback in a scratch folder and exports
#                  KUBECONFIG; kube_stop stops it and removes the folder.
#
# The cold build takes about 15 minutes and several GB of module and build cache;
# it runs once per cache folder.

: "${ENCLAVE_CACHE:=/var/cache/enclave}"
: "${ENCLAVE_KUBE_VERSION:=v1.37.2}"
export ENCLAVE_KUBE_BIN="$ENCLAVE_CACHE/kube/bin"

# The staging modules that k8s.io/kubernetes replaces with local folders; a module
# outside the kubernetes tree must point each one at its published version.
_kube_staging="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
cloud-provider cluster-bootstrap code-generator component-base component-helpers
controller-manager cri-api cri-client cri-streaming csi-translation-lib
dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator
kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics mount-utils
pod-security-admission sample-apiserver streaming"

_kube_cmds="kube-apiserver kube-controller-manager kube-scheduler kubectl"

kube_install() {
	local missing="" c
	for c in $_kube_cmds; do
		[ -x "$ENCLAVE_KUBE_BIN/$c" ] || missing="$missing $c"
	done
	[ -z "$missing" ] && return 0

	local v=$ENCLAVE_KUBE_VERSION minor staging=${ENCLAVE_KUBE_VERSION/v1./v0.}
	minor=${v#v1.}
	minor=${minor%%.*}
	local mod="$ENCLAVE_CACHE/kube/tools"
	mkdir -p "$mod" "$ENCLAVE_KUBE_BIN"
	echo "building$missing $v (cached in $ENCLAVE_KUBE_BIN; about 15 minutes cold)"
	{
		echo "module enclave.local/kubetools"
		echo
		echo "go 1.26"
		echo
		echo "require k8s.io/kubernetes $v"
		echo
		for c in $_kube_cmds; do echo "tool k8s.io/kubernetes/cmd/$c"; done
		echo
		echo "replace ("
		for c in $_kube_staging; do echo "	k8s.io/$c => k8s.io/$c $staging"; done
		echo ")"
	} >"$mod/go.mod"
	(
		cd "$mod" &&
			GOFLAGS=-mod=mod go mod tidy &&
			for c in $missing; do
				echo "building $c"
				go build -trimpath -o "$ENCLAVE_KUBE_BIN/$c.tmp" -ldflags "\
-X k8s.io/component-base/version.gitVersion=$v \
-X k8s.io/component-base/version.gitMajor=1 \
-X k8s.io/component-base/version.gitMinor=$minor \
-X k8s.io/client-go/pkg/version.gitVersion=$v" "k8s.io/kubernetes/cmd/$c" &&
					mv "$ENCLAVE_KUBE_BIN/$c.tmp" "$ENCLAVE_KUBE_BIN/$c" || exit 1
			done
	)
}
