#!/usr/bin/env bash
# Benchmark: `etcd-backup restore --output-dir` against `etcdutl snapshot restore --data-dir` on
# the same ~1 GiB snapshot, alternately, ROUNDS times each: wall, CPU, peak RSS and ratios. Both
# without a revision bump (etcdutl 3.5.1 has none), plus ours with the default bump. Then the
# time etcd 3.5.1 takes to become healthy on a dir made by each. A script, not a test.
#   ROUNDS=3 SIZE_MIB=1024 bench/restore.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib/rig.sh
. scripts/lib/rig.sh
# shellcheck source=bench/lib.sh
. bench/lib.sh
ROUNDS=${ROUNDS:-3}
SIZE_MIB=${SIZE_MIB:-1024}
bash scripts/install-deps.sh >/dev/null 2>&1 || bash scripts/install-deps.sh
cargo build --release --quiet --bin etcd-backup --example load_etcd
BIN="$root/target/release/etcd-backup"
ETCD="$root/.deps/etcd-v3.5.1/etcd"
ETCDUTL="$root/.deps/etcd-v3.5.1/etcdutl"

work=$(mktemp -d /tmp/etcd-backup-bench.XXXXXX)
results="$work/results.tsv"
trap 'rig_stop; rm -rf "$work"' EXIT
rig_pki "$work"
rig_etcd_args bench "$work/data"
rig_start "$ETCD" "$work/etcd.log" --quota-backend-bytes=8589934592
"$root/target/release/examples/load_etcd" "https://127.0.0.1:$cport" "$pki/ca.crt" \
    "$pki/server.crt" "$pki/server.key" $((SIZE_MIB << 20))
file=$("$BIN" --no-manifest --endpoints "https://127.0.0.1:$cport" --cacert "$pki/ca.crt" \
    --cert "$pki/server.crt" --key "$pki/server.key" --backup-dir "$work/b" save 2>/dev/null)
rig_stop
size=$(stat -c %s "$file")
echo "bench: snapshot is $((size >> 20)) MiB; $ROUNDS rounds" >&2

# Restore for the member the rig's flags describe, so etcd can start on the result.
cluster=(--name bench --initial-cluster "bench=https://127.0.0.1:$pport"
    --initial-advertise-peer-urls "https://127.0.0.1:$pport")
cat "$file" > /dev/null
run_up() {
    measure restore etcdutl "$ETCDUTL" snapshot restore "$file" --data-dir "$work/up" "${cluster[@]}"
}
run_ours() {
    measure restore etcd-backup "$BIN" --no-manifest -q restore "$file" --output-dir "$work/ours" \
        "${cluster[@]}" --no-bump-revision
}
run_bumped() {
    measure bumped etcd-backup "$BIN" --no-manifest restore "$file" --output-dir "$work/bumped" \
        "${cluster[@]}"
}
# Each run writes about as much as the snapshot and fsyncs it; the order rotates so that no tool
# always pays for the write-back or cache eviction the previous one caused.
orders=("run_up run_ours run_bumped" "run_ours run_bumped run_up" "run_bumped run_up run_ours")
for r in $(seq "$ROUNDS"); do
    rm -rf "$work/up" "$work/ours" "$work/bumped"
    sync
    for step in ${orders[$(( (r - 1) % 3 ))]}; do
        "$step"
        sync
    done
done
summarize etcdutl etcd-backup

# Time to healthy on each dir (the rig's flags, pointed at the restored dir).
healthy() {
    local dir=$1 t0 t1
    rig_etcd_args_keep_ports "$dir"
    t0=$(date +%s.%N)
    rig_start "$ETCD" "$work/etcd-$2.log" --quota-backend-bytes=8589934592
    t1=$(date +%s.%N)
    local keys
    keys=$(rig_ctl "$(dirname "$ETCD")/etcdctl" get "" --prefix --count-only -w fields |
        awk '/"Count"/ {print $3}')
    rig_stop
    python3 -c "print(f'{\"$2\":>12}: healthy after {$t1 - $t0:.2f} s, {$keys} keys')"
}
rig_etcd_args_keep_ports() {
    local i
    for i in "${!etcd_args[@]}"; do
        case ${etcd_args[$i]} in --data-dir=*) etcd_args[$i]="--data-dir=$1" ;; esac
    done
}
echo
healthy "$work/up" etcdutl
healthy "$work/ours" etcd-backup
healthy "$work/bumped" bumped
