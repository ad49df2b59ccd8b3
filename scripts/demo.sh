#!/usr/bin/env bash
# A throwaway demo of etcd-backup on this machine: a TLS etcd with kubeadm-style PKI and a
# kubeadm-style static pod manifest, some data, then the etcd-backup commands, zero-config.
# Everything lives in a temp dir and the etcd process is stopped by its PID at the end.
#   ETCD_BIN=/usr/bin/etcd scripts/demo.sh     # use etcd 3.4.23 instead of 3.5.1
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/install-deps.sh >/dev/null 2>&1 || bash scripts/install-deps.sh
cargo build --release --quiet
BIN="$root/target/release/etcd-backup"
ETCD_BIN=${ETCD_BIN:-$root/.deps/etcd-v3.5.1/etcd}
ETCDCTL=$(dirname "$ETCD_BIN")/etcdctl

work=$(mktemp -d /tmp/etcd-backup-demo.XXXXXX)
etcd_pid=""
cleanup() {
    if [ -n "$etcd_pid" ]; then kill "$etcd_pid" 2>/dev/null || true; wait "$etcd_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

pki="$work/etc/kubernetes/pki/etcd"
mkdir -p "$pki" "$work/etc/kubernetes/manifests"
# kubeadm-style PKI: an etcd CA, a server cert that is also a client cert, a peer cert;
# RSA keys in PKCS#1 ("BEGIN RSA PRIVATE KEY"), as kubeadm writes them.
openssl genrsa -traditional -out "$pki/ca.key" 2048 2>/dev/null
openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=etcd-ca" -days 2 -out "$pki/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
for c in server peer; do
    openssl genrsa -traditional -out "$pki/$c.key" 2048 2>/dev/null
    openssl req -new -key "$pki/$c.key" -subj "/CN=demo-node" -out "$work/$c.csr"
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' > "$work/$c.ext"
    openssl x509 -req -in "$work/$c.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
        -days 2 -extfile "$work/$c.ext" -out "$pki/$c.crt" 2>/dev/null
done
chmod 0600 "$pki"/*.key

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cport=$(port); pport=$(port); mport=$(port)
data="$work/var/lib/etcd"
cat > "$work/etc/kubernetes/manifests/etcd.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: etcd
  namespace: kube-system
  labels: {component: etcd, tier: control-plane}
spec:
  containers:
  - name: etcd
    image: registry.k8s.io/etcd:3.5.1-0
    command:
    - etcd
    - --advertise-client-urls=https://127.0.0.1:$cport
    - --cert-file=$pki/server.crt
    - --client-cert-auth=true
    - --data-dir=$data
    - --initial-advertise-peer-urls=https://127.0.0.1:$pport
    - --initial-cluster=demo-node=https://127.0.0.1:$pport
    - --key-file=$pki/server.key
    - --listen-client-urls=https://127.0.0.1:$cport
    - --listen-metrics-urls=http://127.0.0.1:$mport
    - --listen-peer-urls=https://127.0.0.1:$pport
    - --name=demo-node
    - --peer-cert-file=$pki/peer.crt
    - --peer-client-cert-auth=true
    - --peer-key-file=$pki/peer.key
    - --peer-trusted-ca-file=$pki/ca.crt
    - --snapshot-count=10000
    - --trusted-ca-file=$pki/ca.crt
    volumeMounts:
    - {mountPath: $data, name: etcd-data}
    - {mountPath: $pki, name: etcd-certs}
  hostNetwork: true
  volumes:
  - {hostPath: {path: $pki, type: DirectoryOrCreate}, name: etcd-certs}
  - {hostPath: {path: $data, type: DirectoryOrCreate}, name: etcd-data}
YAML
# Start etcd with exactly the manifest's command, as the kubelet would.
mapfile -t args < <(sed -n 's/^    - \(--.*\)$/\1/p' "$work/etc/kubernetes/manifests/etcd.yaml")
"$ETCD_BIN" "${args[@]}" > "$work/etcd.log" 2>&1 &
etcd_pid=$!
ctl() { ETCDCTL_API=3 "$ETCDCTL" --endpoints "https://127.0.0.1:$cport" --cacert "$pki/ca.crt" --cert "$pki/server.crt" --key "$pki/server.key" "$@"; }
for _ in $(seq 100); do ctl endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
ctl endpoint health
echo "== some Kubernetes-like data"
for i in $(seq 1 50); do ctl put "/registry/configmaps/default/cm-$i" "$(head -c 2000 /dev/urandom | base64 -w0)" >/dev/null; done
ctl put /registry/namespaces/demo '{"kind":"Namespace"}' >/dev/null

export ETCD_BACKUP_MANIFEST="$work/etc/kubernetes/manifests/etcd.yaml"
export ETCD_BACKUP_DIR="$work/backups"
run() { echo; echo "\$ etcd-backup $*"; "$BIN" "$@"; }
run save
run save --label pre-upgrade-1.31 -w json
echo; echo "\$ ls -l $ETCD_BACKUP_DIR"; ls -l "$ETCD_BACKUP_DIR"
echo; echo "== upstream check: etcdutl/etcdctl snapshot status on what we wrote"
for f in "$ETCD_BACKUP_DIR"/*.db; do
    if [ -x "$(dirname "$ETCD_BIN")/etcdutl" ]; then "$(dirname "$ETCD_BIN")/etcdutl" snapshot status -w table "$f"; else ETCDCTL_API=3 "$ETCDCTL" snapshot status -w table "$f"; fi
done
echo; echo "demo done; etcd (pid $etcd_pid) is stopped and $work removed on exit"
