#!/usr/bin/env bash
# Benchmark: every command at growing db sizes, each beside its upstream equivalent (issue 18).
# One real etcd 3.5.1 (kubeadm-style mTLS, loopback only, raised --quota-backend-bytes) runs as
# the static pod of a simulated kubeadm node (the tests' stand-in kubelet and fake systemctl, as
# in bench/node-restore.sh). It is grown from one size to the next with Kubernetes-like data
# (examples/load_etcd.rs: /registry/<resource>/<ns>/<name>, values 0.5-16 KiB behind `k8s\0`,
# OVERWRITE_PERCENT of the puts rewriting earlier keys so the db holds history). At each size:
#   save          etcd-backup save                  vs etcdctl snapshot save
#   status-warm   etcd-backup status FILE           vs etcdutl snapshot status (file in the cache)
#   status-cold   the same after dropping the page cache before each run
#   verify-warm   etcd-backup verify FILE           vs openssl dgst -sha256 FILE: no upstream tool
#   verify-cold                                        verifies a snapshot; one full read and SHA-256
#                                                      (with SHA-NI, as ours) is the floor. coreutils'
#                                                      sha256sum is no floor: it lacks SHA-NI, 4x slower
#   restore       etcd-backup restore --output-dir  vs etcdutl snapshot restore (no bump on either)
#   node-restore  downtime of `etcd-backup restore SNAPSHOT` on the node (manifests out to etcd
#                 healthy with the restored data) vs etcd's own start on that restored dir
#                 (launched directly, until /health answers; its CPU and peak RSS from /proc)
#   node-restore-all  the whole node restore (verification, build, swap, wait), ours only
#   s3-upload     save --remote s3://…              vs etcdctl snapshot save + aws s3 cp (SeaweedFS)
# and prints one table: medians of ROUNDS for wall and CPU (user+sys of every process), the peak
# RSS of the largest process, ratios ours/theirs, our seconds per GiB of snapshot, and that
# divided by the same at the smallest size (1.00 = time grows linearly with the db).
#   SIZES="1 2 4 8" ROUNDS=3 bench/scale.sh      (sizes in GiB of db, ascending; the default)
#   SIZES="0.1 0.25" ROUNDS=1 bench/scale.sh     (a quick check that the script works)
# Disk: each size needs about 4x its size free under WORK_DIR (default /tmp): the etcd data dir,
# the snapshot, one copy being written (upstream's snapshot, a restored dir or an uploaded
# object) and slack for etcd's WAL. Each size's files are removed as it goes; the script checks
# free space before each size and stops with what it needs. Needs root: the cold runs drop the
# page cache (`sync; echo 3 > /proc/sys/vm/drop_caches`), which also slows whatever else runs on
# the machine for a moment. A script, not a test: nothing here asserts a time. The raw rows are
# kept in target/bench-scale/results.tsv.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib/rig.sh
. scripts/lib/rig.sh
# shellcheck source=bench/lib.sh
. bench/lib.sh
SIZES=${SIZES:-1 2 4 8}
ROUNDS=${ROUNDS:-3}
OVERWRITE_PERCENT=${OVERWRITE_PERCENT:-20}
WORK_DIR=${WORK_DIR:-/tmp}
GIB=1073741824
[ "$(id -u)" = 0 ] || { echo "bench: scale.sh needs root (it drops the page cache for the cold runs)" >&2; exit 2; }
command -v /usr/bin/time >/dev/null || { echo "bench: needs GNU time (apt-get install time)" >&2; exit 2; }
bash scripts/install-deps.sh >/dev/null 2>&1 || bash scripts/install-deps.sh
cargo build --release --quiet --bin etcd-backup --example load_etcd
aws_cli "$root"
BIN="$root/target/release/etcd-backup"
LOAD="$root/target/release/examples/load_etcd"
ETCD="$root/.deps/etcd-v3.5.1/etcd"
ETCDCTL="$root/.deps/etcd-v3.5.1/etcdctl"
ETCDUTL="$root/.deps/etcd-v3.5.1/etcdutl"
WEED=$(ls "$root"/.deps/seaweedfs-*/weed | tail -1)
gib_bytes() { python3 -c "print(int(float('$1') * $GIB))"; }
largest=$(printf '%s\n' $SIZES | sort -g | tail -1)
quota=$(( $(gib_bytes "$largest") + 2 * GIB ))

started=$(date +%s)
work=$(mktemp -d "$WORK_DIR/etcd-backup-scale.XXXXXX")
node="$work/node"
results="$work/results.tsv"
keep="$root/target/bench-scale"
mkdir -p "$keep"
etcd_pid=""
weed_pid=""

# The etcd the stand-in kubelet runs: "PID STARTTIME …" in $node/etcd.pid.
node_etcd_pid() {
    local pid start _rest now
    [ -f "$node/etcd.pid" ] || return 1
    read -r pid start _rest < "$node/etcd.pid" || return 1
    now=$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [ "$now" = "$start" ] && echo "$pid"
}
stop_pid() {
    local pid=$1 i
    kill "$pid" 2>/dev/null || return 0
    for i in $(seq 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}
stop_node() {
    [ -d "$node/bin" ] || return 0
    PATH="$node/bin:$PATH" systemctl stop kubelet >/dev/null 2>&1 || true
    local pid
    if pid=$(node_etcd_pid); then stop_pid "$pid"; fi
}
cleanup() {
    stop_node
    rig_stop
    weed_stop
    [ ! -f "$results" ] || cp "$results" "$keep/results.tsv"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "bench: interrupted; stopping what it started and removing $work" >&2; exit 130' INT TERM

# health_wait SECONDS: until etcd's /health (metrics listener, plain HTTP) says true.
health_wait() {
    local deadline=$(( $(date +%s) + $1 ))
    until curl -fsS -m 2 "http://127.0.0.1:$mport/health" 2>/dev/null | grep -q '"health":"true"'; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "bench: etcd not healthy after $1 s" >&2; return 1; }
        sleep 0.05
    done
}

# The simulated kubeadm node; its etcd is the static pod from etcd.yaml.
mkdir -p "$node/bin" "$work/etc/kubernetes/manifests" "$work/var/lib"
rig_pki "$work"
rig_etcd_args bench "$work/var/lib/etcd"
manifests="$work/etc/kubernetes/manifests"
{
    printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n  namespace: kube-system\n'
    printf 'spec:\n  containers:\n  - command:\n    - etcd\n'
    printf '    - %s\n' "${etcd_args[@]}" "--quota-backend-bytes=$quota"
    printf '    name: etcd\n  hostNetwork: true\n'
} > "$manifests/etcd.yaml"
printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\n' > "$manifests/kube-apiserver.yaml"
cp tests/fixtures/node/kubelet.sh "$node/kubelet.sh"
cp tests/fixtures/node/systemctl "$node/bin/systemctl"
chmod +x "$node/kubelet.sh" "$node/bin/systemctl"
read -r -a stat < "/proc/$$/stat"
printf 'MANIFESTS_DIR=%q\nETCD_BIN=%q\nOWNER_PID=%s\nOWNER_START=%s\n' \
    "$manifests" "$ETCD" "$$" "${stat[21]}" > "$node/node.env"
PATH="$node/bin:$PATH" systemctl start kubelet
health_wait 60
endpoint="https://127.0.0.1:$cport"
tls=(--cacert "$pki/ca.crt" --cert "$pki/server.crt" --key "$pki/server.key")
ours=("$BIN" --no-manifest -q --endpoints "$endpoint" "${tls[@]}" --backup-dir "$work/backups")
cluster=(--name bench --initial-cluster "bench=https://127.0.0.1:$pport"
    --initial-advertise-peer-urls "https://127.0.0.1:$pport")
db_size() {
    rig_ctl "$ETCDCTL" endpoint status -w json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["dbSize"])'
}

# load_to BYTES: grows the db to at least BYTES, each call of the loader with new key names.
round=0
load_to() {
    local target=$1 db t0
    t0=$(date +%s.%N)
    db=$(db_size)
    while [ "$db" -lt "$target" ]; do
        round=$((round + 1))
        # Values are ~80% of the db (bbolt pages, keys, revisions); aim a little short.
        "$LOAD" "$endpoint" "$pki/ca.crt" "$pki/server.crt" "$pki/server.key" \
            $(( (target - db) * 8 / 10 + (4 << 20) )) "$round" "$OVERWRITE_PERCENT" 2>&1 |
            sed 's/^/bench: /' >&2
        db=$(db_size)
    done
    python3 -c "print(f'bench: db {$db / $GIB:.2f} GiB, loaded in {$(date +%s.%N) - $t0:.1f} s')" >&2
}

# check_space GIB: enough free space for this size (about 4x; what etcd already holds counts).
check_space() {
    local want held free
    want=$(( $(gib_bytes "$1") * 4 + GIB / 2 ))
    held=$(du -sb "$work/var/lib/etcd" | cut -f1)
    free=$(free_bytes "$work")
    if [ $((free + held)) -lt "$want" ]; then
        python3 -c "print(f'bench: size $1 GiB needs about {$want / $GIB:.1f} GiB in $work (4x the size: etcd data, snapshot, one copy being written, WAL), and only {($free + $held) / $GIB:.1f} GiB are there (free plus the {$held / $GIB:.1f} GiB etcd holds); free space, use smaller SIZES, or point WORK_DIR elsewhere')" >&2
        exit 2
    fi
}

# The snapshot steps (save, status, verify, restore) at size $1; leaves $file (ours).
run_save() {
    local s=$1 r
    for r in $(seq "$ROUNDS"); do
        measure "$s:save" theirs "$ETCDCTL" --endpoints "$endpoint" "${tls[@]}" snapshot save "$work/up.db"
        rm -f "$work/up.db"
        rm -rf "$work/backups"
        measure "$s:save" ours "${ours[@]}" save
    done
    file=$(ls "$work"/backups/etcd-snapshot-*.db)
    echo "$s $(stat -c %s "$file")" >> "$work/sizes.tsv"
}
run_status_verify() {
    local s=$1 r
    [ "$("$BIN" status -w json "$file")" = "$("$ETCDUTL" snapshot status -w json "$file")" ] ||
        echo "bench: warning: status output differs from etcdutl's at $s GiB" >&2
    cat "$file" > /dev/null
    for r in $(seq "$ROUNDS"); do
        measure "$s:status-warm" theirs "$ETCDUTL" snapshot status -w json "$file"
        measure "$s:status-warm" ours "$BIN" status -w json "$file"
        measure "$s:verify-warm" theirs openssl dgst -sha256 "$file"
        measure "$s:verify-warm" ours "$BIN" --no-manifest verify "$file"
    done
    for r in $(seq "$ROUNDS"); do
        drop_caches; measure "$s:status-cold" theirs "$ETCDUTL" snapshot status -w json "$file"
        drop_caches; measure "$s:status-cold" ours "$BIN" status -w json "$file"
        drop_caches; measure "$s:verify-cold" theirs openssl dgst -sha256 "$file"
        drop_caches; measure "$s:verify-cold" ours "$BIN" --no-manifest verify "$file"
    done
}
run_restore() {
    local s=$1 r
    for r in $(seq "$ROUNDS"); do
        # Each writes and fsyncs a copy of the db; the order alternates so neither always pays
        # for the other's write-back.
        local order=(theirs ours)
        [ $((r % 2)) = 1 ] || order=(ours theirs)
        for who in "${order[@]}"; do
            sync
            if [ "$who" = theirs ]; then
                measure "$s:restore" theirs "$ETCDUTL" snapshot restore "$file" --data-dir "$work/restored" "${cluster[@]}"
            else
                measure "$s:restore" ours "$BIN" --no-manifest -q restore "$file" --output-dir "$work/restored" \
                    "${cluster[@]}" --no-bump-revision
            fi
            rm -rf "$work/restored"
        done
    done
}

# etcd_start_time S: stops the node's etcd, starts etcd directly on the restored dir (warm cache,
# as the restore left it) and records its time to healthy, CPU and peak RSS; then gives etcd back
# to the stand-in kubelet.
etcd_start_time() {
    local s=$1 pid t0 t1 cpu rss tck
    PATH="$node/bin:$PATH" systemctl stop kubelet
    pid=$(node_etcd_pid) && stop_pid "$pid"
    t0=$(date +%s.%N)
    "$ETCD" "${etcd_args[@]}" "--quota-backend-bytes=$quota" > "$work/etcd-direct.log" 2>&1 &
    etcd_pid=$!
    health_wait 600
    t1=$(date +%s.%N)
    tck=$(getconf CLK_TCK)
    cpu=$(awk -v t="$tck" '{print ($14 + $15) / t}' "/proc/$etcd_pid/stat")
    rss=$(awk '/^VmHWM/ {print $2}' "/proc/$etcd_pid/status")
    record "$s:node-restore" theirs "$(python3 -c "print(round($t1 - $t0, 3))")" "$cpu" "$rss"
    rig_stop
    PATH="$node/bin:$PATH" systemctl start kubelet
    health_wait 600
}
run_node_restore() {
    local s=$1 r t1 down
    for r in $(seq "$ROUNDS"); do
        measure_stdout="$work/restore.out" measure "$s:node-restore-all" ours env PATH="$node/bin:$PATH" \
            ETCD_BACKUP_MANIFEST="$manifests/etcd.yaml" "$BIN" restore "$file" --yes --manifests-dir "$manifests"
        t1=$(date -u +%s.%N)
        # Downtime from the journal's down_at (manifests moved out) to the restore's exit.
        down=$(python3 - "$work/etc/kubernetes/etcd-backup-restore-journal.json" "$t1" <<'PY'
import datetime, json, sys
j = json.load(open(sys.argv[1]))
at = j["down_at"]
frac = at.split(".")[1].rstrip("Z")[:6] if "." in at else "0"
t = datetime.datetime.strptime(at.split(".")[0].rstrip("Z"), "%Y-%m-%dT%H:%M:%S")
t = t.replace(tzinfo=datetime.timezone.utc).timestamp() + float("0." + frac)
print(round(float(sys.argv[2]) - t, 3))
PY
)
        read -r _g _n _w cpu rss < <(tail -1 "$results")
        record "$s:node-restore" ours "$down" "$cpu" "$rss"
        rm -rf "$work"/var/lib/etcd.before-restore-*
        etcd_start_time "$s"
    done
}
run_upload() {
    local s=$1 r
    cat > "$work/old-upload.sh" <<EOF
set -euo pipefail
"$ETCDCTL" --endpoints "$endpoint" ${tls[*]} snapshot save "$work/up.db"
"$AWS_CLI" --endpoint-url "\$AWS_ENDPOINT_URL" s3 cp --quiet "$work/up.db" s3://bench/old/up.db
EOF
    for r in $(seq "$ROUNDS"); do
        # A fresh store for each upload: SeaweedFS frees deleted objects' space only on vacuum.
        weed_start "$WEED" "$work/weed"
        measure "$s:s3-upload" theirs bash "$work/old-upload.sh"
        rm -f "$work/up.db"
        weed_stop
        rm -rf "$work/weed"
        weed_start "$WEED" "$work/weed"
        measure "$s:s3-upload" ours "${ours[@]}" save --remote s3://bench/ours/
        rm -rf "$work/backups"
        weed_stop
        rm -rf "$work/weed"
    done
}

echo "bench: sizes $SIZES GiB, $ROUNDS round(s) each, $OVERWRITE_PERCENT% overwrites; the largest needs about $((${largest%.*} * 4 + 1)) GiB free under $WORK_DIR" >&2
for s in $SIZES; do
    check_space "$s"
    load_to "$(gib_bytes "$s")"
    t0=$(date +%s)
    run_save "$s"
    run_status_verify "$s"
    run_restore "$s"
    run_node_restore "$s"
    rm -rf "$work/backups"
    run_upload "$s"
    echo "bench: $s GiB done in $(( $(date +%s) - t0 )) s" >&2
done

cp "$results" "$keep/results.tsv"
cp "$work/sizes.tsv" "$keep/sizes.tsv"
python3 - "$results" "$work/sizes.tsv" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
sizes = {l.split()[0]: int(l.split()[1]) for l in open(sys.argv[2])}
def num(v):
    return None if v == "-" else float(v)
stats = {}
for g, who, w, c, m in rows:
    size, cmd = g.split(":")
    stats.setdefault((size, cmd, who), []).append((num(w), num(c), num(m)))
def summary(k):
    rs = stats.get(k)
    if not rs:
        return None
    med = lambda i: statistics.median(r[i] for r in rs) if all(r[i] is not None for r in rs) else None
    return med(0), med(1), max(r[2] for r in rs) / 1024 if all(r[2] is not None for r in rs) else None
f = lambda v, p=2: "-" if v is None else f"{v:.{p}f}"
ratio = lambda a, b: None if a is None or b is None or b == 0 else a / b
cmds = list(dict.fromkeys(g.split(":")[1] for g, *_ in rows))
order = list(dict.fromkeys(g.split(":")[0] for g, *_ in rows))
print(f"{'GiB':>6} {'command':<17} {'ours s':>7} {'cpu s':>7} {'MiB':>6} | {'theirs s':>8} {'cpu s':>7} "
      f"{'MiB':>7} | {'wall x':>6} {'cpu x':>6} | {'s/GiB':>6} {'/first':>6}")
first = {}
for size in order:
    gib = sizes[size] / (1 << 30)
    for cmd in cmds:
        o, t = summary((size, cmd, "ours")), summary((size, cmd, "theirs"))
        if o is None:
            continue
        t = t or (None, None, None)
        per = o[0] / gib
        first.setdefault(cmd, per)
        print(f"{gib:>6.2f} {cmd:<17} {f(o[0]):>7} {f(o[1]):>7} {f(o[2], 1):>6} | {f(t[0]):>8} "
              f"{f(t[1]):>7} {f(t[2], 1):>7} | {f(ratio(o[0], t[0])):>6} {f(ratio(o[1], t[1])):>6} | "
              f"{per:>6.2f} {per / first[cmd]:>6.2f}")
print("""
GiB: the snapshot's size. theirs: save etcdctl snapshot save; status etcdutl snapshot status;
verify openssl dgst -sha256 of the file (the floor of a full check; nothing upstream verifies); restore
etcdutl snapshot restore; node-restore our downtime vs etcd's own start on the restored dir;
node-restore-all our whole node restore; s3-upload etcdctl snapshot save + aws s3 cp. /first: our
s/GiB at this size divided by the same at the smallest size.""")
PY
echo "bench: whole run $(( $(date +%s) - started )) s" >&2
