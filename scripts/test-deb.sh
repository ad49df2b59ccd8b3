#!/usr/bin/env bash
# Builds the .deb with cargo-deb (release profile), installs it with dpkg, checks what an operator
# gets, purges it, and checks that the purge left the backups alone. Run by scripts/test.sh.
#
# It installs a package on this machine, so it runs only as root, and only when nothing of an
# etcd-backup install is there already (no package in any state, no /usr/bin/etcd-backup, no
# /etc/etcd-backup, no units): then everything it adds is its own, and it removes all of it,
# whatever happens. A /var/lib/etcd-backups that was there before is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."

PKG=etcd-backup
BACKUP_DIR=/var/lib/etcd-backups
checks=0

skip() {
    echo "test-deb: SKIPPED: $*" >&2
    exit 0
}
fail() {
    echo "test-deb: FAILED: $*" >&2
    exit 1
}
ok() {
    checks=$((checks + 1))
    echo "test-deb: ok: $*" >&2
}

[ "$(id -u)" -eq 0 ] || skip "needs root (it installs and purges the package)"
# Two checkouts testing on one machine take turns: the package and its paths are machine-wide.
exec 9>/run/lock/etcd-backup-test-deb.lock
flock 9
state=$(dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null || true)
[ -z "$state" ] || [ "$state" = not-installed ] || skip "package $PKG is here already ($state)"
# Every unit the package ships (packaging/systemd/: the backup's, health --repair's, ...).
unit_names=$(cd packaging/systemd && ls -- *.service *.timer)
for p in /usr/bin/etcd-backup /etc/etcd-backup /etc/cron.d/etcd-backup; do
    [ ! -e "$p" ] || skip "$p exists: not touching an existing install"
done
for u in $unit_names; do
    for p in /usr/lib/systemd/system/$u /etc/systemd/system/$u \
        /etc/systemd/system/timers.target.wants/$u; do
        [ ! -e "$p" ] || skip "$p exists: not touching an existing install"
    done
done

made_backup_dir=no
[ -e "$BACKUP_DIR" ] || made_backup_dir=yes
canary="$BACKUP_DIR/etcd-snapshot-2000-01-01_00-00-00_test-deb.db"
cleanup() {
    if [ -n "$(dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null | grep -v not-installed)" ]; then
        dpkg -P "$PKG" >/dev/null 2>&1 || echo "test-deb: cleanup: dpkg -P $PKG failed" >&2
    fi
    if [ "$made_backup_dir" = yes ]; then
        rm -f "$canary"
        rmdir "$BACKUP_DIR" 2>/dev/null || echo "test-deb: cleanup: $BACKUP_DIR not empty, left" >&2
    fi
}
trap cleanup EXIT

echo "== cargo deb" >&2
# --fast: lighter compression; the package's contents are the same.
deb=$(cargo deb --locked --fast | tail -1) || fail "cargo deb"
[ -f "$deb" ] || fail "cargo deb printed no package path"
version=$(cargo metadata --locked --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["packages"][0]["version"])')

echo "== dpkg -i $deb" >&2
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >/dev/null
ok "dpkg -i"

out=$(etcd-backup --version)
[ "$out" = "etcd-backup $version" ] || fail "etcd-backup --version: $out"
ok "etcd-backup --version: $out"

# The installed, gzipped page renders without a warning, and man finds every page by name.
page=$(MANWIDTH=100 LC_ALL=C.UTF-8 man -l /usr/share/man/man1/etcd-backup.1.gz 2>/tmp/test-deb.man.err)
[ ! -s /tmp/test-deb.man.err ] || fail "man -l printed: $(cat /tmp/test-deb.man.err)"
rm -f /tmp/test-deb.man.err
grep -qx 'NAME' <<<"$page" && grep -q 'etcd-backup-save(1)' <<<"$page" ||
    fail "man -l: no NAME section or no etcd-backup-save(1) in: $page"
ok "man -l /usr/share/man/man1/etcd-backup.1.gz"
for cmd in etcd-backup etcd-backup-save etcd-backup-status etcd-backup-verify etcd-backup-prune \
    etcd-backup-restore; do
    [ "$(man -w "$cmd")" = "/usr/share/man/man1/$cmd.1.gz" ] || fail "man -w $cmd"
done
ok "man -w finds all 6 pages"

mode=$(stat -c '%a %U:%G' "$BACKUP_DIR")
if [ "$made_backup_dir" = yes ]; then
    [ "$mode" = "700 root:root" ] || fail "$BACKUP_DIR is $mode, not 700 root:root"
    ok "$BACKUP_DIR created 0700 root:root"
else
    echo "test-deb: note: $BACKUP_DIR existed before ($mode); its mode is not the package's" >&2
fi

units=/usr/lib/systemd/system
installed=()
for u in $unit_names; do
    [ -f $units/$u ] || fail "$units/$u missing"
    cmp -s $units/$u packaging/systemd/$u || fail "$units/$u differs from packaging/systemd/$u"
    installed+=("$units/$u")
done
# Installed for real now (binary in /usr/bin, pages in /usr/share/man), so no --root needed.
verify=$(systemd-analyze verify "${installed[@]}" 2>&1) || fail "systemd-analyze verify: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify printed: $verify"
ok "units in $units pass systemd-analyze verify silently:" $unit_names
for u in $unit_names; do
    st=$(systemctl is-enabled "$u" 2>&1 || true)
    case "$st" in disabled | static) ;; *) fail "$u is $st after install" ;; esac
    [ ! -e /etc/systemd/system/timers.target.wants/$u ] || fail "$u enabled"
done
ok "units neither enabled nor started"
# What an operator does on every node (docs/dr.md); the purge below must take the links away.
timers=$(tr ' ' '\n' <<<"$unit_names" | grep '\.timer$')
for t in $timers; do
    systemctl enable "$t" >/dev/null 2>&1 || fail "systemctl enable $t"
    [ -L /etc/systemd/system/timers.target.wants/$t ] || fail "systemctl enable $t made no link"
done
ok "systemctl enable" $timers

[ "$(stat -c '%a' /etc/etcd-backup/config.toml)" = 600 ] || fail "config.toml not 0600"
conffiles=$(dpkg-query -W -f='${Conffiles}\n' "$PKG")
grep -q '^ /etc/etcd-backup/config.toml ' <<<"$conffiles" ||
    fail "/etc/etcd-backup/config.toml is not a conffile"
ok "/etc/etcd-backup/config.toml: conffile, 0600"

for f in /usr/share/bash-completion/completions/etcd-backup \
    /usr/share/zsh/vendor-completions/_etcd-backup \
    /usr/share/fish/vendor_completions.d/etcd-backup.fish \
    /usr/share/doc/etcd-backup/examples/etcd-backup.cron \
    /usr/share/doc/etcd-backup/examples/cronjob.yaml \
    /usr/share/doc/etcd-backup/docs/monitoring.md; do
    [ -f "$f" ] || fail "$f missing"
done
bash -c 'source /usr/share/bash-completion/completions/etcd-backup && complete -p etcd-backup' \
    >/dev/null || fail "bash completion does not load"
[ ! -e /etc/cron.d/etcd-backup ] || fail "the cron example was installed in /etc/cron.d"
ok "completions and examples in place; no /etc/cron.d entry"

# A backup in the dir must survive the purge (a stand-in, in a dir this script made).
[ "$made_backup_dir" = no ] || echo "not a real snapshot" >"$canary"
echo "== dpkg -P $PKG" >&2
dpkg -P "$PKG" >/dev/null
for p in /usr/bin/etcd-backup /etc/etcd-backup /usr/share/man/man1/etcd-backup.1.gz; do
    [ ! -e "$p" ] || fail "$p is still there after dpkg -P"
done
for u in $unit_names; do
    [ ! -e $units/$u ] || fail "$units/$u is still there after dpkg -P"
    [ ! -L /etc/systemd/system/timers.target.wants/$u ] ||
        fail "the enable link of $u is still there after dpkg -P"
done
ok "dpkg -P removed the package's files and the timers' enable links"
[ -d "$BACKUP_DIR" ] || fail "dpkg -P removed $BACKUP_DIR"
[ "$made_backup_dir" = no ] || [ -f "$canary" ] || fail "dpkg -P removed the backup in $BACKUP_DIR"
ok "$BACKUP_DIR and the backup in it survived the purge"

echo "test-deb: all $checks checks passed" >&2
