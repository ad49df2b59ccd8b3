#!/usr/bin/env bash
# Benchmark: an encrypted, compressed, off-site backup of one etcd 3.5.1 (kubeadm-style mTLS),
# the old way against ours, side by side, into a real S3 server (SeaweedFS, SigV4):
#   old-script:  etcdctl snapshot save f.db && zstd f.db && age -r KEY f.db.zst && aws s3 cp
#                (what the guides add to the cron script; nothing checked, plaintext on disk)
#   etcd-backup: save --compress zstd --encrypt-to KEY --remote s3://… (streamed, checked in full,
#                no plaintext written, multipart upload)
# plus `save --remote` of the plain snapshot, for the upload throughput alone. Prints wall time,
# CPU (user+sys of every process) and the peak RSS of the largest process, medians of ROUNDS, and
# ratios; then the upload throughput etcd-backup reported.
#   ROUNDS=3 SIZE_MIB=1024 bench/offsite.sh
# This is a script, not a test: nothing here asserts a time.
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
LOAD="$root/target/release/examples/load_etcd"
ETCD_BIN="$root/.deps/etcd-v3.5.1/etcd"
ETCDCTL="$root/.deps/etcd-v3.5.1/etcdctl"
WEED=$(ls "$root"/.deps/seaweedfs-*/weed | tail -1)

# awscli v1 for the old way, in a venv of its own (only this script needs it).
AWS_VENV="$root/.deps/venv-awscli"
if [ ! -x "$AWS_VENV/bin/aws" ]; then
    python3 -m venv "$AWS_VENV"
    "$AWS_VENV/bin/pip" install --quiet --disable-pip-version-check "awscli==1.*"
fi

work=$(mktemp -d /tmp/etcd-backup-bench.XXXXXX)
weed_pid=""
stop_weed() {
    [ -n "$weed_pid" ] || return 0
    kill "$weed_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$weed_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$weed_pid" 2>/dev/null || true
    wait "$weed_pid" 2>/dev/null || true
    weed_pid=""
}
trap 'rig_stop; stop_weed; rm -rf "$work"' EXIT

# SeaweedFS with every port pinned to fresh loopback ports and SigV4 credentials.
export AWS_ACCESS_KEY_ID=benchaccess AWS_SECRET_ACCESS_KEY=benchsecret123 AWS_REGION=us-east-1
cat > "$work/s3.json" <<EOF
{"identities":[{"name":"bench","credentials":[{"accessKey":"$AWS_ACCESS_KEY_ID","secretKey":"$AWS_SECRET_ACCESS_KEY"}],"actions":["Admin","Read","List","Tagging","Write"]}]}
EOF
mkdir -p "$work/weed"
p() { rig_port; }
s3port=$(p)
"$WEED" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$work/weed" \
    -master.port="$(p)" -master.port.grpc="$(p)" -master.telemetry=false -master.volumeSizeLimitMB=1024 \
    -volume.port="$(p)" -volume.port.grpc="$(p)" -volume.max=64 \
    -filer=true -filer.port="$(p)" -filer.port.grpc="$(p)" -filer.localSocket="$work/filer.sock" \
    -s3=true -s3.port="$s3port" -s3.port.grpc="$(p)" -s3.port.iceberg=0 -s3.port.lance=0 \
    -s3.localSocket="$work/s3.sock" -s3.config="$work/s3.json" -iam.port="$(p)" \
    > "$work/weed.log" 2>&1 &
weed_pid=$!
export AWS_ENDPOINT_URL="http://127.0.0.1:$s3port"
aws() { "$AWS_VENV/bin/aws" --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }
for i in $(seq 120); do
    aws s3 mb s3://bench >/dev/null 2>&1 && break
    aws s3 ls s3://bench >/dev/null 2>&1 && break
    kill -0 "$weed_pid" 2>/dev/null || { cat "$work/weed.log" >&2; exit 2; }
    sleep 0.5
done

rig_pki "$work"
rig_etcd_args bench "$work/data"
rig_start "$ETCD_BIN" "$work/etcd.log" --quota-backend-bytes=8589934592
endpoint="https://127.0.0.1:$cport"
"$LOAD" "$endpoint" "$pki/ca.crt" "$pki/server.crt" "$pki/server.key" $((SIZE_MIB << 20))
db=$(rig_ctl "$ETCDCTL" endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["dbSize"])')
echo "bench: db is $((db >> 20)) MiB; $ROUNDS rounds of each" >&2

age-keygen -o "$work/key.txt" 2>/dev/null
pub=$(age-keygen -y "$work/key.txt")
cat > "$work/old-script.sh" <<EOF
set -euo pipefail
f="$work/old/etcd-snapshot-\$(date -u +%Y-%m-%d_%H-%M-%S).db"
mkdir -p "$work/old"
ETCDCTL_API=3 "$ETCDCTL" --endpoints "$endpoint" --cacert "$pki/ca.crt" --cert "$pki/server.crt" \
    --key "$pki/server.key" snapshot save "\$f"
zstd -q --rm "\$f"
age -r "$pub" -o "\$f.zst.age" "\$f.zst"
rm "\$f.zst"
"$AWS_VENV/bin/aws" --endpoint-url "$AWS_ENDPOINT_URL" s3 cp --quiet "\$f.zst.age" s3://bench/old/
EOF
results="$work/results.tsv"
ours=("$BIN" --no-manifest -v --endpoints "$endpoint" --cacert "$pki/ca.crt" --cert "$pki/server.crt"
      --key "$pki/server.key" --backup-dir "$work/backups")
for r in $(seq "$ROUNDS"); do
    measure zstd+age old-script bash "$work/old-script.sh"
    rm -rf "$work/old"
    sleep 1
    measure zstd+age etcd-backup "${ours[@]}" save --compress zstd --encrypt-to "$pub" \
        --remote s3://bench/ours/
    grep -h "uploaded" "$work/cmd.err" | sed 's/^/  zstd+age: /' >> "$work/uploads.txt"
    rm -rf "$work/backups"
    sleep 1
    measure plain etcd-backup "${ours[@]}" save --remote s3://bench/plain/
    grep -h "uploaded" "$work/cmd.err" | sed 's/^/  plain:    /' >> "$work/uploads.txt"
    rm -rf "$work/backups"
    sleep 1
done

summarize old-script etcd-backup
echo
echo "upload as etcd-backup reported it (one line per run):"
cat "$work/uploads.txt"
