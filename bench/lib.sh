# Shared by bench/*.sh: run a command under GNU time and summarise the runs. Source it after
# setting $work (scratch dir) and $results (a TSV file).

# measure GROUP NAME CMD..: one run; appends "GROUP NAME wall_s cpu_s rss_kib" to $results.
measure() {
    local group=$1 name=$2
    shift 2
    /usr/bin/time -f "%e %U %S %M" -o "$work/time.out" "$@" >/dev/null 2>"$work/cmd.err" || {
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
