#!/usr/bin/env bash
# Benchmark: the reading side on a ~1 GiB snapshot. `etcd-backup inspect` beside `etcdutl
# snapshot status` (both read the whole file), `etcd-backup export` beside `etcdctl get ""
# --prefix -w json` on the live etcd at the same revision, and `etcd-backup diff A B` / `diff A
# --live` after a second load overwrote part of the keys. Prints wall, CPU and peak RSS, and
# ratios; the goal is inspect ≤ 1 s per GiB and ≤ 64 MiB, export and diff flat in memory.
# The files are read once beforehand (page cache). A script, not a test.
#   ROUNDS=3 SIZE_MIB=1024 bench/inspect.sh   (ETCDCTL_EXPORT=1 adds etcdctl get, needing ~12 GiB)
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
DIST="$root/.deps/etcd-v3.5.1"

work=$(mktemp -d /tmp/etcd-backup-bench.XXXXXX)
results="$work/results.tsv"
trap 'rig_stop; rm -rf "$work"' EXIT
rig_pki "$work"
rig_etcd_args bench "$work/data"
rig_start "$DIST/etcd" "$work/etcd.log" --quota-backend-bytes=8589934592
ep="https://127.0.0.1:$cport"
tls=(--cacert "$pki/ca.crt" --cert "$pki/server.crt" --key "$pki/server.key")
load() { "$root/target/release/examples/load_etcd" "$ep" "$pki/ca.crt" "$pki/server.crt" \
    "$pki/server.key" "$1"; }
save() { "$BIN" --no-manifest --endpoints "$ep" "${tls[@]}" --backup-dir "$work/b" save; }
load $((SIZE_MIB << 20))
a=$(save)
sleep 1 # the next save's name must differ
load $((SIZE_MIB << 18)) # a quarter again: the first keys of every worker get new values
b=$(save)
size=$(stat -c %s "$b")
echo "bench: snapshots are $(($(stat -c %s "$a") >> 20)) and $((size >> 20)) MiB; $ROUNDS rounds" >&2
cat "$a" "$b" > /dev/null
# diff exits 1 when it finds differences: that is its answer, not a failure.
printf '#!/bin/sh\n"$@"; [ $? -le 1 ]\n' > "$work/ok1" && chmod +x "$work/ok1"
for r in $(seq "$ROUNDS"); do
    measure inspect etcdutl "$DIST/etcdutl" snapshot status -w json "$b"
    measure inspect etcd-backup "$BIN" --no-manifest inspect -w json "$b"
    # etcdctl holds the whole response in memory (2.9 GiB RSS for a 363 MiB snapshot here, so
    # about 12 GiB at 1.4 GiB) and needs more than its 5 s default: opt in with ETCDCTL_EXPORT=1.
    if [ "${ETCDCTL_EXPORT:-0}" = 1 ]; then
        measure export etcdctl "$DIST/etcdctl" --endpoints "$ep" "${tls[@]}" \
            --command-timeout=30m get "" --prefix -w json
    fi
    measure export etcd-backup "$BIN" --no-manifest export "$b"
    measure diff etcd-backup "$work/ok1" "$BIN" --no-manifest diff -w json "$a" "$b"
    measure diff-live etcd-backup "$work/ok1" "$BIN" --no-manifest --endpoints "$ep" "${tls[@]}" \
        diff -w json "$a" --live
done
summarize etcdutl etcd-backup
[ "${ETCDCTL_EXPORT:-0}" != 1 ] || summarize etcdctl etcd-backup | tail -n 2
python3 - "$results" "$size" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.split()[1] == "etcd-backup"]
gib = int(sys.argv[2]) / (1 << 30)
for g in dict.fromkeys(r[0] for r in rows):
    rs = [r for r in rows if r[0] == g]
    w = statistics.median(float(r[2]) for r in rs)
    print(f"{g}: {w:.2f} s for {gib:.2f} GiB = {w / gib:.2f} s per GiB, "
          f"peak RSS {max(int(r[4]) for r in rs) / 1024:.1f} MiB")
PY
