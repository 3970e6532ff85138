#!/usr/bin/env bash
# Registration's cost: S3 bytes register-release reads for a 1 GiB release zip, its wall time
# against a whole-object download (on s3s-fs, which serves byte ranges natively; moto reads the
# whole object for every ranged GET), and the stripped size of its Lambda binary.
# Installs what it needs (project venv for moto_server, s3s-fs under .tools/), idempotently.
# Extra arguments go to the bench: --runs N --moto-runs N --size-mib N --files N.
# BENCH_PROFILE=perf|debug|release picks the build: perf (Cargo.toml: optimised, no fat LTO)
# by default, so the handler is timed as it ships.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

die() { echo "error: $*" >&2; exit 1; }

command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) and re-run"
[ -x .venv/bin/moto_server ] || bash scripts/setup.sh

# 0.14.1 is the newest s3s-fs that builds with Rust < 1.96; 0.14 keeps ChecksumSHA256 for HEAD.
s3s_version=0.14.1
s3s="$root/.tools/bin/s3s-fs"
if [ ! -x "$s3s" ] || [ "$("$s3s" --version 2>/dev/null)" != "s3s-fs $s3s_version" ]; then
  echo "bench: installing s3s-fs $s3s_version into .tools/ (one-off, a few minutes)" >&2
  cargo install "s3s-fs@$s3s_version" --locked --features binary --root "$root/.tools" \
    || die "cargo install s3s-fs@$s3s_version failed"
fi

. "$root/scripts/bench-profile.sh"
echo "bench: $profile profile" >&2

cargo run -q "${flags[@]}" -p ferry-tests --bin bench_register -- \
  --s3s-fs "$s3s" --bootstrap "$root/target/lambda/register-release/bootstrap" "$@"
