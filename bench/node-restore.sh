#!/usr/bin/env bash
# Benchmark: control-plane downtime of `etcd-backup restore SNAPSHOT` (node mode) on a simulated
# kubeadm node: the real etcd 3.5.1 behind kubeadm-style TLS, run from its static pod manifest by
# the stand-in kubelet of the tests (tests/fixtures/node), with the fake systemctl on PATH.
# For each size: load etcd, save, restore, and print the downtime etcd-backup measured (from
# moving the manifests out to etcd healthy with the restored revision) and the whole run's wall
# time. A script, not a test.
#   SIZES_MIB="100 1024" bench/node-restore.sh
# SHOW_LOG=1 prints each restore's log; RESTORE_FLAGS="--log-format json" gives it timestamps.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib/rig.sh
. scripts/lib/rig.sh
SIZES_MIB=${SIZES_MIB:-100 1024}
bash scripts/install-deps.sh >/dev/null 2>&1 || bash scripts/install-deps.sh
cargo build --release --quiet --bin etcd-backup --example load_etcd
BIN="$root/target/release/etcd-backup"
ETCD="$root/.deps/etcd-v3.5.1/etcd"

work=$(mktemp -d /tmp/etcd-backup-bench.XXXXXX)
node="$work/node"
stop_node() {
    PATH="$node/bin:$PATH" systemctl stop kubelet >/dev/null 2>&1 || true
    if [ -f "$node/etcd.pid" ]; then
        local pid
        read -r pid _ < "$node/etcd.pid"
        kill "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
}
trap 'stop_node; rm -rf "$work"' EXIT

for size in $SIZES_MIB; do
    stop_node
    rm -rf "$work/etc" "$work/var" "$node" "$work/backups"
    mkdir -p "$node/bin" "$work/etc/kubernetes/manifests" "$work/var/lib"
    rig_pki "$work"
    rig_etcd_args bench "$work/var/lib/etcd"
    manifests="$work/etc/kubernetes/manifests"
    {
        printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n  namespace: kube-system\n'
        printf 'spec:\n  containers:\n  - command:\n    - etcd\n'
        printf '    - %s\n' "${etcd_args[@]}" --quota-backend-bytes=8589934592
        printf '    name: etcd\n  hostNetwork: true\n'
    } > "$manifests/etcd.yaml"
    printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\n' \
        > "$manifests/kube-apiserver.yaml"
    cp tests/fixtures/node/kubelet.sh "$node/kubelet.sh"
    cp tests/fixtures/node/systemctl "$node/bin/systemctl"
    chmod +x "$node/kubelet.sh" "$node/bin/systemctl"
    read -r -a stat < "/proc/$$/stat"
    printf 'MANIFESTS_DIR=%q\nETCD_BIN=%q\nOWNER_PID=%s\nOWNER_START=%s\n' \
        "$manifests" "$ETCD" "$$" "${stat[21]}" > "$node/node.env"
    PATH="$node/bin:$PATH" systemctl start kubelet
    for _ in $(seq 300); do
        rig_ctl "$(dirname "$ETCD")/etcdctl" endpoint health >/dev/null 2>&1 && break
        sleep 0.1
    done
    "$root/target/release/examples/load_etcd" "https://127.0.0.1:$cport" "$pki/ca.crt" \
        "$pki/server.crt" "$pki/server.key" $((size << 20)) >&2
    export ETCD_BACKUP_MANIFEST="$manifests/etcd.yaml" ETCD_BACKUP_DIR="$work/backups"
    file=$("$BIN" save 2>/dev/null)
    t0=$(date +%s.%N)
    out=$(PATH="$node/bin:$PATH" "$BIN" ${RESTORE_FLAGS:-} restore "$file" --yes --manifests-dir "$manifests" 2>"$work/restore.err") || { cat "$work/restore.err" >&2; exit 2; }
    [ -z "${SHOW_LOG:-}" ] || cat "$work/restore.err" >&2
    t1=$(date +%s.%N)
    downtime=$(sed -n 's/.*downtime \([0-9.]*\)s.*/\1/p' <<< "$out")
    python3 -c "print(f'{$size:>5} MiB of values ($(( $(stat -c %s "$file") >> 20 )) MiB snapshot): downtime {$downtime:.2f} s, whole restore {$t1 - $t0:.2f} s')"
done
