#!/usr/bin/env bash
# Benchmark: `etcd-backup status FILE` against `etcdutl snapshot status FILE` on the same ~1 GiB
# snapshot, alternately, ROUNDS times each, and `etcd-backup verify FILE` alone (full SHA-256,
# bbolt check and etcd schema checks). Prints wall, CPU and peak RSS, and ratios. The file is read
# once beforehand so that every run sees it in the page cache. A script, not a test.
#   ROUNDS=3 SIZE_MIB=1024 bench/status.sh
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
ETCDUTL="$root/.deps/etcd-v3.5.1/etcdutl"

work=$(mktemp -d /tmp/etcd-backup-bench.XXXXXX)
results="$work/results.tsv"
trap 'rig_stop; rm -rf "$work"' EXIT
rig_pki "$work"
rig_etcd_args bench "$work/data"
rig_start "$root/.deps/etcd-v3.5.1/etcd" "$work/etcd.log" --quota-backend-bytes=8589934592
"$root/target/release/examples/load_etcd" "https://127.0.0.1:$cport" "$pki/ca.crt" \
    "$pki/server.crt" "$pki/server.key" $((SIZE_MIB << 20))
file=$("$BIN" --no-manifest --endpoints "https://127.0.0.1:$cport" --cacert "$pki/ca.crt" \
    --cert "$pki/server.crt" --key "$pki/server.key" --backup-dir "$work/b" save)
rig_stop
size=$(stat -c %s "$file")
echo "bench: snapshot is $((size >> 20)) MiB; $ROUNDS rounds" >&2
cat "$file" > /dev/null
for r in $(seq "$ROUNDS"); do
    measure status etcdutl "$ETCDUTL" snapshot status -w json "$file"
    measure status etcd-backup "$BIN" status -w json "$file"
    measure verify etcd-backup "$BIN" --no-manifest verify "$file"
done
[ "$("$BIN" status -w json "$file")" = "$("$ETCDUTL" snapshot status -w json "$file")" ] \
    && echo "bench: status output identical to etcdutl" >&2
summarize etcdutl etcd-backup
python3 - "$results" "$size" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.startswith("verify ")]
gib = int(sys.argv[2]) / (1 << 30)
w = statistics.median(float(r[2]) for r in rows)
print(f"\nverify: {w:.2f} s for {gib:.2f} GiB = {w / gib:.2f} s per GiB, "
      f"peak RSS {max(int(r[4]) for r in rows) / 1024:.1f} MiB")
PY
