#!/usr/bin/env bash
# All of Ferry's checks and tests, as CI runs them: installs what it needs first.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/setup.sh
export PATH="$root/.venv/bin:$PATH" CHECKPOINT_DISABLE=1 TF_CLI_CONFIG_FILE=/dev/null

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo machete (no unused dependencies)"
.tools/bin/cargo-machete

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

# Binaries first: the end-to-end tests drive the real `ferry` binary from target/debug.
step "cargo build (binaries the tests drive)"
cargo build --workspace --bins

step "cargo test"
cargo test --workspace

step "browser harness self-test (headless chromium)"
node tests/browser/selftest.mjs

# Lint runs inside the aws_fidelity test; this is the release build `sam build` does.
step "AWS: release build of the functions, as sam build does it"
bash scripts/check-aws.sh build
