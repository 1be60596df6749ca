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
# The Go tests do not need kube_start: internal/kubetest starts a cluster of their
# own from ENCLAVE_KUBE_BIN for each test that asks for one. kube_start is for
# trying the charts by hand:
#   . scripts/kube.sh; kube_install; kube_start; helm install ...; kube_stop
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

_kube_stages="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/internal/kubetest/kwok-stages.yaml"

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

# Ports of the cluster that kube_start starts; pick others to run two at once.
: "${ENCLAVE_KUBE_ETCD_PORT:=52379}"
: "${ENCLAVE_KUBE_API_PORT:=56443}"

_kube_wait() { # what, command...
	local what=$1 i
	shift
	for i in $(seq 1 300); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "kube: timed out waiting for $what; logs in $ENCLAVE_KUBE_DIR" >&2
	return 1
}

_kube_bg() { # name, command...
	local name=$1
	shift
	"$@" >"$ENCLAVE_KUBE_DIR/$name.log" 2>&1 &
	echo $! >"$ENCLAVE_KUBE_DIR/$name.pid"
}

kube_start() {
	kube_install || return 1
	local kwok
	kwok=$(command -v kwok || echo "$ENCLAVE_CACHE/bin/kwok")
	[ -x "$kwok" ] || { echo "kube: kwok is missing; run scripts/tools.sh tools_install" >&2; return 1; }
	command -v etcd >/dev/null || { echo "kube: etcd is missing; apt-get install etcd-server" >&2; return 1; }

	export ENCLAVE_KUBE_DIR
	ENCLAVE_KUBE_DIR=$(mktemp -d /tmp/enclave-kube.XXXXXX)
	local d=$ENCLAVE_KUBE_DIR token
	token=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
	echo "$token,admin,admin-uid,system:masters" >"$d/tokens.csv"
	openssl genrsa -out "$d/sa.key" 2048 2>/dev/null &&
		openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null || return 1

	_kube_bg etcd etcd --name=kube --data-dir="$d/etcd" \
		--listen-client-urls="http://127.0.0.1:$ENCLAVE_KUBE_ETCD_PORT" \
		--advertise-client-urls="http://127.0.0.1:$ENCLAVE_KUBE_ETCD_PORT" \
		--listen-peer-urls="http://127.0.0.1:$((ENCLAVE_KUBE_ETCD_PORT + 1))" \
		--initial-advertise-peer-urls="http://127.0.0.1:$((ENCLAVE_KUBE_ETCD_PORT + 1))" \
		--initial-cluster="kube=http://127.0.0.1:$((ENCLAVE_KUBE_ETCD_PORT + 1))" --logger=zap --log-level=warn
	# --watch-cache=false: Debian's etcd 3.4 lacks watch progress requests, so the
	# watch cache refuses newer clients' streaming lists and kwok's watches restart
	# with growing back-off; without the cache, watches go to etcd directly.
	_kube_bg kube-apiserver "$ENCLAVE_KUBE_BIN/kube-apiserver" \
		--etcd-servers="http://127.0.0.1:$ENCLAVE_KUBE_ETCD_PORT" --bind-address=127.0.0.1 \
		--advertise-address=127.0.0.1 --secure-port="$ENCLAVE_KUBE_API_PORT" \
		--endpoint-reconciler-type=none --cert-dir="$d/certs" --token-auth-file="$d/tokens.csv" \
		--authorization-mode=Node,RBAC --service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$d/sa.pub" --service-account-signing-key-file="$d/sa.key" \
		--service-cluster-ip-range=10.96.0.0/16 --enable-priority-and-fairness=false --watch-cache=false

	export KUBECONFIG=$d/kubeconfig
	cat >"$KUBECONFIG" <<CFG
apiVersion: v1
kind: Config
clusters:
- name: kube
  cluster:
    server: https://127.0.0.1:$ENCLAVE_KUBE_API_PORT
    certificate-authority: $d/certs/apiserver.crt
users:
- name: admin
  user:
    token: $token
contexts:
- name: kube
  context: {cluster: kube, user: admin}
current-context: kube
CFG
	_kube_wait "the apiserver" "$ENCLAVE_KUBE_BIN/kubectl" get --raw /readyz || return 1

	_kube_bg kube-controller-manager "$ENCLAVE_KUBE_BIN/kube-controller-manager" --kubeconfig="$KUBECONFIG" \
		--leader-elect=false --secure-port=0 --service-account-private-key-file="$d/sa.key" \
		--root-ca-file="$d/certs/apiserver.crt"
	_kube_bg kube-scheduler "$ENCLAVE_KUBE_BIN/kube-scheduler" --kubeconfig="$KUBECONFIG" \
		--leader-elect=false --secure-port=0
	# kwok's stages: the node turns Ready (its Lease keeps it so), pods turn Running
	# and Ready, pods owned by Jobs complete, deleted pods go.
	_kube_bg kwok "$kwok" --kubeconfig="$KUBECONFIG" --config="$_kube_stages" \
		--manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
		--node-lease-duration-seconds=40 --cidr=10.244.0.0/16 --node-ip=10.0.0.1

	"$ENCLAVE_KUBE_BIN/kubectl" apply -f - >/dev/null <<'NODE' || return 1
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {kubernetes.io/hostname: kwok-node-0, kubernetes.io/os: linux, kubernetes.io/arch: amd64, type: kwok}
status:
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
NODE
	_kube_wait "the node" "$ENCLAVE_KUBE_BIN/kubectl" wait --for=condition=Ready node/kwok-node-0 --timeout=1s || return 1
	_kube_wait "the default ServiceAccount" "$ENCLAVE_KUBE_BIN/kubectl" -n default get serviceaccount default || return 1
	export PATH="$ENCLAVE_KUBE_BIN:$PATH"
	echo "kube: cluster up; KUBECONFIG=$KUBECONFIG"
}

kube_stop() {
	[ -n "${ENCLAVE_KUBE_DIR:-}" ] && [ -d "$ENCLAVE_KUBE_DIR" ] || return 0
	local c pid
	for c in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
		[ -f "$ENCLAVE_KUBE_DIR/$c.pid" ] || continue
		pid=$(cat "$ENCLAVE_KUBE_DIR/$c.pid")
		kill "$pid" 2>/dev/null && for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
		kill -9 "$pid" 2>/dev/null || true
	done
	rm -rf "$ENCLAVE_KUBE_DIR"
	unset ENCLAVE_KUBE_DIR KUBECONFIG
}
