#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, then format, lints, docs, the
# .deb (built, installed, purged: scripts/test-deb.sh, as root only), and every test (unit tests,
# integration tests against real etcd 3.4.23 and 3.5.1, and the packaging checks).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo clippy" >&2
cargo clippy --locked --all-targets -- -D warnings
echo "== cargo doc" >&2
RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --quiet
echo "== .deb" >&2
bash scripts/test-deb.sh
echo "== cargo test" >&2
cargo test --locked
