#!/usr/bin/env bash
# Benchmark: etcd-backup save against etcdctl snapshot save, side by side, on one etcd 3.5.1 with
# kubeadm-style mTLS, loaded with Kubernetes-like keys (values 0.5-16 KiB). The two tools run
# alternately, ROUNDS times each, at two db sizes, so that we can see whether memory grows with
# the db. Prints wall time, client CPU (user+sys) and peak RSS (medians; RSS max), and ratios.
#   ROUNDS=3 SIZES_MIB="256 1024" bench/save.sh
# On a 2-core machine client and server share the CPUs, so wall time includes the server's work.
# The HashKV proof (issue 17): `etcd-backup` is a save with it (the hash computed in the verify
# walk, then the member's own HashKV at the snapshot's revision, which makes etcd read its whole
# db once more); `skip-hash-check` is `save --skip-hash-check` (hash computed, no member asked);
# BEFORE_BIN=path/to/etcd-backup (a build from before the proof) adds a `before` column.
# This is a script, not a test: nothing here asserts a time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib/rig.sh
. scripts/lib/rig.sh
# shellcheck source=bench/lib.sh
. bench/lib.sh
ROUNDS=${ROUNDS:-3}
SIZES_MIB=${SIZES_MIB:-"256 1024"}
bash scripts/install-deps.sh >/dev/null 2>&1 || bash scripts/install-deps.sh
command -v /usr/bin/time >/dev/null || { echo "bench: needs GNU time (apt-get install time)" >&2; exit 2; }
cargo build --release --quiet --bin etcd-backup --example load_etcd
BIN="$root/target/release/etcd-backup"
LOAD="$root/target/release/examples/load_etcd"
ETCD_BIN="$root/.deps/etcd-v3.5.1/etcd"
ETCDCTL="$root/.deps/etcd-v3.5.1/etcdctl"

work=$(mktemp -d /tmp/etcd-backup-bench.XXXXXX)
trap 'rig_stop; rm -rf "$work"' EXIT
rig_pki "$work"
rig_etcd_args bench "$work/data"
rig_start "$ETCD_BIN" "$work/etcd.log" --quota-backend-bytes=8589934592
endpoint="https://127.0.0.1:$cport"
results="$work/results.tsv"

loaded=0
for size_mib in $SIZES_MIB; do
    size=$((size_mib << 20))
    if [ "$size" -gt "$loaded" ]; then
        "$LOAD" "$endpoint" "$pki/ca.crt" "$pki/server.crt" "$pki/server.key" $((size - loaded))
        loaded=$size
    fi
    db=$(rig_ctl "$ETCDCTL" endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["dbSize"])')
    echo "bench: db is $((db >> 20)) MiB; $ROUNDS rounds of each tool" >&2
    for r in $(seq "$ROUNDS"); do
        measure "${size_mib}MiB" etcdctl "$ETCDCTL" --endpoints "$endpoint" --cacert "$pki/ca.crt" \
            --cert "$pki/server.crt" --key "$pki/server.key" snapshot save "$work/etcdctl.db"
        rm -f "$work/etcdctl.db"
        measure "${size_mib}MiB" etcd-backup "$BIN" --no-manifest -q --endpoints "$endpoint" --cacert "$pki/ca.crt" \
            --cert "$pki/server.crt" --key "$pki/server.key" --backup-dir "$work/backups" save
        rm -rf "$work/backups"
        measure "${size_mib}MiB" skip-hash-check "$BIN" --no-manifest -q --endpoints "$endpoint" --cacert "$pki/ca.crt" \
            --cert "$pki/server.crt" --key "$pki/server.key" --backup-dir "$work/backups" save --skip-hash-check
        rm -rf "$work/backups"
        if [ -n "${BEFORE_BIN:-}" ]; then
            measure "${size_mib}MiB" before "$BEFORE_BIN" --no-manifest -q --endpoints "$endpoint" --cacert "$pki/ca.crt" \
                --cert "$pki/server.crt" --key "$pki/server.key" --backup-dir "$work/backups" save
            rm -rf "$work/backups"
        fi
    done
done

summarize etcdctl etcd-backup
if [ -n "${BEFORE_BIN:-}" ]; then
    echo
    summarize before etcd-backup
fi
