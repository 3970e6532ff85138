#!/usr/bin/env bash
# Installs what the demo and the tests need, inside the checkout, idempotently:
# a project venv (moto_server pinned, cargo-lambda, aws-sam-cli), asl-validator from npm and
# cargo-machete under .tools/.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

die() { echo "error: $*" >&2; exit 1; }

command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) and re-run"
command -v python3 >/dev/null || die "python3 not found: apt-get install -y python3 python3-venv"
if ! command -v terraform >/dev/null; then
  die "terraform not found: Ferry runs terraform >= 1.10 (S3 native locking); install it on PATH and re-run"
fi
tf_version=$(terraform version -json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["terraform_version"])' || true)
case "$tf_version" in
  1.1[0-9].*|1.[2-9][0-9].*) ;;
  *) die "terraform $tf_version found; Ferry needs >= 1.10 (S3 backend use_lockfile)";;
esac

# moto 5.2.5 is the tested pin (5.2.1 ran only one Step Functions execution per region).
want="moto[server]==5.2.5 awscli cargo-lambda aws-sam-cli"
stamp=.venv/.ferry-setup
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  python3 -m venv .venv || die "python3 -m venv failed: apt-get install -y python3-venv"
  .venv/bin/pip install --quiet --upgrade pip >/dev/null
  # shellcheck disable=SC2086
  .venv/bin/pip install --quiet $want || die "pip install of $want failed"
  echo "$want" > "$stamp"
fi

if command -v npm >/dev/null; then
  if [ ! -x node_modules/.bin/asl-validator ]; then
    npm ci --silent --no-audit --no-fund >/dev/null || die "npm ci failed (asl-validator)"
  fi
else
  die "npm not found: apt-get install -y nodejs npm (asl-validator checks the state machine)"
fi
# cargo-machete keeps unused dependencies out (the test command runs it).
if [ ! -x .tools/bin/cargo-machete ]; then
  cargo install --locked --quiet --root .tools cargo-machete@0.9.2 || die "cargo install cargo-machete failed"
fi
echo "setup: ok (venv: $root/.venv, terraform $tf_version)"
