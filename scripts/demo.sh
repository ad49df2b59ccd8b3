#!/usr/bin/env bash
# A throwaway demo of etcd-backup on this machine: a TLS etcd with kubeadm-style PKI and a
# kubeadm-style static pod manifest, some data, then the etcd-backup commands, zero-config.
# Everything lives in a temp dir and the etcd process is stopped by its PID at the end.
#   ETCD_BIN=/usr/bin/etcd scripts/demo.sh     # use etcd 3.4.23 instead of 3.5.1
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib/rig.sh
. scripts/lib/rig.sh
bash scripts/install-deps.sh >/dev/null 2>&1 || bash scripts/install-deps.sh
cargo build --release --quiet
BIN="$root/target/release/etcd-backup"
ETCD_BIN=${ETCD_BIN:-$root/.deps/etcd-v3.5.1/etcd}
ETCDCTL=$(dirname "$ETCD_BIN")/etcdctl

work=$(mktemp -d /tmp/etcd-backup-demo.XXXXXX)
cleanup() {
    rig_stop
    rm -rf "$work"
}
trap cleanup EXIT

# kubeadm-style PKI: an etcd CA, a server cert that is also a client cert, a peer cert;
# RSA keys in PKCS#1 ("BEGIN RSA PRIVATE KEY"), as kubeadm writes them.
rig_pki "$work"
data="$work/var/lib/etcd"
rig_etcd_args demo-node "$data"
mkdir -p "$work/etc/kubernetes/manifests"
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
$(printf '    - %s\n' "${etcd_args[@]}")
    volumeMounts:
    - {mountPath: $data, name: etcd-data}
    - {mountPath: $pki, name: etcd-certs}
  hostNetwork: true
  volumes:
  - {hostPath: {path: $pki, type: DirectoryOrCreate}, name: etcd-certs}
  - {hostPath: {path: $data, type: DirectoryOrCreate}, name: etcd-data}
YAML
# Start etcd with exactly the manifest's command, as the kubelet would.
rig_start "$ETCD_BIN" "$work/etcd.log"
ctl() { rig_ctl "$ETCDCTL" "$@"; }
ctl endpoint health
echo "== some Kubernetes-like data"
for i in $(seq 1 50); do ctl put "/registry/configmaps/default/cm-$i" "$(head -c 2000 /dev/urandom | base64 -w0)" >/dev/null; done
ctl put /registry/namespaces/demo '{"kind":"Namespace"}' >/dev/null

# The demo is self-contained: a config file on this machine must not change it.
export ETCD_BACKUP_NO_CONFIG=1
export ETCD_BACKUP_MANIFEST="$work/etc/kubernetes/manifests/etcd.yaml"
export ETCD_BACKUP_DIR="$work/backups"
run() { echo; echo "\$ etcd-backup $*"; "$BIN" "$@"; }
run save
run save --label pre-upgrade-1.31 -w json
latest=$(ls -1 "$ETCD_BACKUP_DIR"/*.db | tail -1)
run status "$latest"
run verify --all
run status --max-age 1h
echo; echo "== upstream agrees: etcdutl/etcdctl snapshot status on the same file"
if [ -x "$(dirname "$ETCD_BIN")/etcdutl" ]; then
    "$(dirname "$ETCD_BIN")/etcdutl" snapshot status -w table "$latest"
else
    ETCDCTL_API=3 "$ETCDCTL" snapshot status -w table "$latest"
fi
echo; echo "== a damaged copy is caught"
cp "$latest" "$work/damaged.db"
printf '\xff' | dd of="$work/damaged.db" bs=1 seek=$((4096 * 3 + 20)) conv=notrunc status=none
run verify "$work/damaged.db" || echo "(exit $?: verify found the damage)"
echo; echo "== retention: the old cron script's files (8 to 20 days old) and a save that died"
for d in 8 12 20; do
    cp "$latest" "$ETCD_BACKUP_DIR/etcd-snapshot-$(date -u -d "-$d days" +%Y-%m-%d_%H-%M-%S).db"
done
part="$ETCD_BACKUP_DIR/etcd-snapshot-$(date -u -d '-3 hours' +%Y-%m-%d_%H-%M-%S).db.part"
head -c 100000 "$latest" > "$part"
touch -d '-2 hours' "$part"
echo "notes about this node" > "$ETCD_BACKUP_DIR/notes.txt"
run prune --dry-run
echo; echo "== the cron line: save, then prune by the default 7 days, under one lock"
sleep 1  # a new second, so a new file name
run save --prune
echo; echo "\$ ls $ETCD_BACKUP_DIR"; ls -1 "$ETCD_BACKUP_DIR"
echo; echo "== off-site and encrypted: age + zstd as the snapshot arrives, uploaded to a store"
echo "   (a file:// store stands in for s3://; the key pair is made by Debian's age-keygen)"
age-keygen -o "$work/key.txt" 2>/dev/null
pub=$(age-keygen -y "$work/key.txt")
sleep 1
run save --compress zstd --encrypt-to "$pub" --remote "file://$work/offsite/" --verify-upload
run status --remote "file://$work/offsite/"
run verify --remote "file://$work/offsite/" --latest --identity "$work/key.txt"
echo; echo "\$ age -d -i key.txt <object> | zstd -d | etcdutl snapshot status"
obj=$(ls "$work"/offsite/*/etcd-snapshot-*.db.zst.age | tail -1)
age -d -i "$work/key.txt" "$obj" | zstd -d -q > "$work/offsite-plain.db"
if [ -x "$(dirname "$ETCD_BIN")/etcdutl" ]; then
    "$(dirname "$ETCD_BIN")/etcdutl" snapshot status -w table "$work/offsite-plain.db"
fi
echo; echo "== restore: a new data dir from the newest backup, member settings from the manifest"
newest=$(ls -1 "$ETCD_BACKUP_DIR"/etcd-snapshot-*.db | grep -v _pre-upgrade | tail -1)
before=$(ctl endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')
rig_stop
run restore "$newest" --output-dir "$work/var/lib/etcd-restored"
echo; echo "== etcd 3.5.1 on the restored dir (the manifest's flags, the new --data-dir)"
for i in "${!etcd_args[@]}"; do
    case ${etcd_args[$i]} in --data-dir=*) etcd_args[$i]="--data-dir=$work/var/lib/etcd-restored" ;; esac
done
rig_start "$ETCD_BIN" "$work/etcd-restored.log"
ctl get /registry/namespaces/demo
after=$(ctl endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')
echo "revision before: $before, after restore: $after (bumped: clients relist)"
ctl get /registry/namespaces/demo --rev "$before" 2>&1 | grep "^Error" | sed "s/^/old revision read: /" || true
echo; echo "demo done; etcd (pid $etcd_pid) is stopped and $work removed on exit"
