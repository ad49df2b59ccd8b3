# Shared by bench/*.sh: run a command under GNU time and summarise the runs. Source it after
# setting $work (scratch dir) and $results (a TSV file).

# measure GROUP NAME CMD..: one run; appends "GROUP NAME wall_s cpu_s rss_kib" to $results.
# The command's stdout goes to $measure_stdout when that is set (else nowhere), stderr to
# $work/cmd.err.
measure() {
    local group=$1 name=$2
    shift 2
    /usr/bin/time -f "%e %U %S %M" -o "$work/time.out" "$@" >"${measure_stdout:-/dev/null}" \
        2>"$work/cmd.err" || {
        echo "bench: $name failed:" >&2; cat "$work/cmd.err" >&2; exit 2; }
    local wall user sys rss
    read -r wall user sys rss < "$work/time.out"
    echo "$group $name $wall $(awk "BEGIN{print $user + $sys}") $rss" >> "$results"
}

# summarize BASELINE OURS: medians of wall and CPU, max RSS, per group, and OURS/BASELINE ratios.
summarize() {
    python3 - "$results" "$1" "$2" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
base, ours = sys.argv[2], sys.argv[3]
groups = list(dict.fromkeys(r[0] for r in rows))
tools = list(dict.fromkeys(r[1] for r in rows))
print(f"{'group':>10} {'tool':<16} {'wall s':>7} {'cpu s':>7} {'peak RSS MiB':>13}")
s = {}
for g in groups:
    for t in tools:
        rs = [r for r in rows if r[0] == g and r[1] == t]
        if not rs:
            continue
        s[(g, t)] = (statistics.median(float(r[2]) for r in rs),
                     statistics.median(float(r[3]) for r in rs),
                     max(int(r[4]) for r in rs) / 1024)
        w, c, m = s[(g, t)]
        print(f"{g:>10} {t:<16} {w:>7.2f} {c:>7.2f} {m:>13.1f}")
print()
print(f"{'group':>10} {'wall ratio':>11} {'cpu ratio':>10} {'RSS ratio':>10}   ({ours} / {base})")
for g in groups:
    if (g, ours) in s and (g, base) in s:
        a, b = s[(g, ours)], s[(g, base)]
        print(f"{g:>10} {a[0]/b[0]:>11.2f} {a[1]/b[1]:>10.2f} {a[2]/b[2]:>10.2f}")
PY
}

# record GROUP NAME WALL_S CPU_S RSS_KIB: a row measured some other way ("-" where there is none).
record() {
    echo "$*" >> "$results"
}

# drop_caches: writes dirty pages back and empties the page cache, for cold runs (needs root).
drop_caches() {
    sync
    echo 3 > /proc/sys/vm/drop_caches
}

# free_bytes DIR: bytes available to us on DIR's file system.
free_bytes() {
    df -B1 --output=avail "$1" | tail -1 | tr -d ' '
}

# aws_cli ROOT: awscli v1 in a venv of its own under ROOT/.deps (only the benches need it); sets
# $AWS_CLI.
aws_cli() {
    AWS_CLI="$1/.deps/venv-awscli/bin/aws"
    if [ ! -x "$AWS_CLI" ]; then
        python3 -m venv "$1/.deps/venv-awscli"
        "$1/.deps/venv-awscli/bin/pip" install --quiet --disable-pip-version-check "awscli==1.*"
    fi
}

# weed_start WEED DIR: a SeaweedFS S3 server on fresh loopback ports with SigV4 credentials, data
# in DIR, and an empty bucket `bench`. Sets $weed_pid and exports AWS_* (AWS_ENDPOINT_URL
# included) for both clients. Needs $AWS_CLI (aws_cli). Stop it with weed_stop.
weed_start() {
    local weed=$1 dir=$2 s3port
    mkdir -p "$dir/data"
    export AWS_ACCESS_KEY_ID=benchaccess AWS_SECRET_ACCESS_KEY=benchsecret123 AWS_REGION=us-east-1
    printf '{"identities":[{"name":"bench","credentials":[{"accessKey":"%s","secretKey":"%s"}],"actions":["Admin","Read","List","Tagging","Write"]}]}\n' \
        "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" > "$dir/s3.json"
    s3port=$(rig_port)
    "$weed" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$dir/data" \
        -master.port="$(rig_port)" -master.port.grpc="$(rig_port)" -master.telemetry=false \
        -master.volumeSizeLimitMB=1024 -volume.port="$(rig_port)" -volume.port.grpc="$(rig_port)" \
        -volume.max=64 -filer=true -filer.port="$(rig_port)" -filer.port.grpc="$(rig_port)" \
        -filer.localSocket="$dir/filer.sock" -s3=true -s3.port="$s3port" \
        -s3.port.grpc="$(rig_port)" -s3.port.iceberg=0 -s3.port.lance=0 \
        -s3.localSocket="$dir/s3.sock" -s3.config="$dir/s3.json" -iam.port="$(rig_port)" \
        > "$dir/weed.log" 2>&1 &
    weed_pid=$!
    export AWS_ENDPOINT_URL="http://127.0.0.1:$s3port"
    local i
    for i in $(seq 120); do
        "$AWS_CLI" --endpoint-url "$AWS_ENDPOINT_URL" s3 mb s3://bench >/dev/null 2>&1 && return 0
        kill -0 "$weed_pid" 2>/dev/null || break
        sleep 0.5
    done
    echo "bench: SeaweedFS did not serve S3 at $AWS_ENDPOINT_URL; its log ($dir/weed.log):" >&2
    tail -20 "$dir/weed.log" >&2
    return 1
}

# weed_stop: stops the server weed_start started, by its PID (SIGKILL after 5 s).
weed_stop() {
    [ -n "${weed_pid:-}" ] || return 0
    kill "$weed_pid" 2>/dev/null || true
    local i
    for i in $(seq 50); do kill -0 "$weed_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$weed_pid" 2>/dev/null || true
    wait "$weed_pid" 2>/dev/null || true
    weed_pid=""
}
