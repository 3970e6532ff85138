#!/usr/bin/env bash
# Installs what the demo and the tests need, inside the checkout, idempotently:
# a project venv (moto_server pinned, cargo-lambda, aws-sam-cli), asl-validator and
# playwright-core from npm, cargo-machete under .tools/, and Debian's chromium for the browser
# tests (the one thing installed outside the checkout: as root, or with passwordless sudo).
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
  # playwright-core 1.65 needs Node.js 20.
  node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
    || die "node $(node --version) found: the browser tests' playwright-core needs Node.js >= 20"
  # Again when a tool is missing or package-lock.json changed since the last install.
  if [ ! -x node_modules/.bin/asl-validator ] || [ ! -f node_modules/playwright-core/package.json ] \
    || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --silent --no-audit --no-fund >/dev/null || die "npm ci failed (asl-validator, playwright-core)"
  fi
else
  die "npm not found: apt-get install -y nodejs npm (asl-validator checks the state machine)"
fi

# The review page's browser tests drive Debian's chromium (playwright-core downloads no browser).
chromium=/usr/bin/chromium
if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" = 0 ]; then
    as_root() { "$@"; }
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root() { sudo -n "$@"; }
  else
    die "$chromium not found: run 'apt-get install -y --no-install-recommends chromium' as root, then re-run"
  fi
  command -v apt-get >/dev/null || die "$chromium not found and no apt-get: install Chromium at $chromium"
  echo "setup: installing chromium (apt-get)"
  apt_log=${TMPDIR:-/tmp}/ferry-setup-chromium.log
  apt_install() { as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; }
  # A fresh machine's package lists can be empty or stale: update once, only if needed.
  if ! apt_install >"$apt_log" 2>&1; then
    { as_root apt-get update -q && apt_install; } >>"$apt_log" 2>&1 \
      || die "apt-get install chromium failed (log: $apt_log)"
  fi
  [ -x "$chromium" ] || die "apt-get installed chromium but $chromium is missing (log: $apt_log)"
fi

# cargo-machete keeps unused dependencies out (the test command runs it).
if [ ! -x .tools/bin/cargo-machete ]; then
  cargo install --locked --quiet --root .tools cargo-machete@0.9.2 || die "cargo install cargo-machete failed"
fi
echo "setup: ok (venv: $root/.venv, terraform $tf_version)"
