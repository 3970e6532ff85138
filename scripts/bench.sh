#!/usr/bin/env bash
# Every Ferry benchmark, then one table: benchmark | goal | measured | ratio/verdict.
#   bash scripts/bench.sh           full run (1 GiB releases, more runs; tens of minutes)
#   bash scripts/bench.sh --quick   a few minutes: smaller sizes and counts, no release build
#                                   when artifacts exist (the table says what was measured)
#   bash scripts/bench.sh --table   the table again from the last run's logs
# Installs what it needs (scripts/setup.sh; bench-register.sh adds s3s-fs). Each bench's full
# output is kept in target/bench/<name>.log. Verdicts are printed, never asserted: the exit
# status is non-zero only when a bench could not run.
# The bench binaries and the ferry they drive are built with Cargo.toml's perf profile
# (optimised as shipped, without the Lambdas' fat LTO); BENCH_PROFILE=debug|release overrides.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

die() { echo "error: $*" >&2; exit 1; }
quick=0 table_only=0
case "${1:-}" in
  --quick) quick=1 ;;
  --table) table_only=1 ;;
  "") ;;
  -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
  *) die "usage: $0 [--quick|--table]" ;;
esac

[ "$table_only" = 1 ] || bash scripts/setup.sh >/dev/null
export PATH="$root/.venv/bin:$PATH" CHECKPOINT_DISABLE=1 TF_CLI_CONFIG_FILE=/dev/null
logs="$root/target/bench"
mkdir -p "$logs"

if [ "$quick" = 1 ]; then
  reg_args=(--runs 2 --moto-runs 1 --size-mib 256 --files 2000)
  lambda_args=(--runs 5 --size-mib 256)
  engine_args=(--items 200 --parked 100 --runs 1)
  burst_args=(--uploads 100 --concurrency 1,16)
  deploy_args=(1 --one-env-runs 2)
  gate_runs=2
else
  reg_args=()
  lambda_args=(--runs 20 --size-mib 1024)
  engine_args=()
  burst_args=(--uploads 1000 --concurrency 1,16)
  deploy_args=(3 --one-env-runs 5)
  gate_runs=5
fi

. "$root/scripts/bench-profile.sh"

failed=0
# run <name> <command…>: output to target/bench/<name>.log, a failure noted, never fatal.
run() {
  local name=$1; shift
  echo "bench: $name …" >&2
  local start=$SECONDS
  if "$@" >"$logs/$name.log" 2>&1; then
    echo "bench: $name done in $((SECONDS - start))s" >&2
  else
    echo "bench: $name FAILED after $((SECONDS - start))s (log: $logs/$name.log)" >&2
    failed=1
  fi
}
# metric <log> <name>: the value of a "metric <name> <value> <unit>" line.
metric() { awk -v n="$2" '$1 == "metric" && $2 == n { v = $3 } END { print v }' "$1" 2>/dev/null; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
# verdict <value> <goal> (smaller is better)
verdict() {
  if [ -z "$1" ]; then echo "not measured"; return; fi
  awk -v v="$1" -v g="$2" 'BEGIN { print (v + 0 <= g + 0) ? "met" : "MISSED" }'
}

if [ "$table_only" = 0 ]; then
  echo "$([ "$quick" = 1 ] && echo quick || echo full)" > "$logs/mode"
  echo "bench: building the bench binaries and ferry ($profile)" >&2
  cargo build -q "${flags[@]}" -p ferry-tests -p ferry-cli --bins \
    || die "cargo build of the bench binaries failed"
  bin="$root/target/$profile"

  # 1. Registration (its own script installs s3s-fs).
  run register env BENCH_PROFILE="$profile" bash scripts/bench-register.sh "${reg_args[@]}"

  # 2. Lambda bootstraps, built as SAM builds them; --quick reuses existing ones.
  have_all=1
  for f in register-release check-and-lock request-approval approve record-result review; do
    [ -f "target/lambda/$f/bootstrap" ] || have_all=0
  done
  if [ "$quick" = 0 ] || [ "$have_all" = 0 ]; then
    run lambda-build bash scripts/check-aws.sh build
  fi
  run lambda "$bin/bench_lambda" "${lambda_args[@]}"

  # 3. Engine vs moto: the release example when built (or not --quick), else a debug build.
  engine="$root/target/release/examples/engine-bench" engine_flags=(--release)
  if [ "$quick" = 1 ] && [ ! -x "$engine" ]; then
    engine="$root/target/debug/examples/engine-bench" engine_flags=()
  fi
  if [ "$quick" = 0 ] || [ ! -x "$engine" ]; then
    run engine-build cargo build -q "${engine_flags[@]}" -p ferry-engine --example engine-bench
  fi
  run engine "$engine" --moto "$root/.venv/bin/moto_server" "${engine_args[@]}"

  # 4. Bursts, 5. the deploy loop against bare terraform, 6. gate latency.
  run burst "$bin/bench_burst" "${burst_args[@]}"
  run deploy "$bin/bench_deploy" "${deploy_args[@]}"
  run gate "$bin/bench_gate" "$gate_runs"
fi

# The table.
rows=()
row() { rows+=("$1|$2|$3|$4"); }

summary=$(grep '^summary:' "$logs/register.log" 2>/dev/null | tail -1 || true)
if [ -n "$summary" ]; then
  read_bytes=$(sed -E 's/.* reads ([0-9.]+ [KM]iB) of S3 body.*/\1/' <<<"$summary")
  size=$(sed -E 's/^summary: registering a ([0-9.]+ [KMG]iB) release.*/\1/' <<<"$summary")
  met=$(grep -oE 'goal ≤ [0-9.]+ KiB, (met|MISSED)' <<<"$summary" | sed -E 's/.*, //')
  times=$(sed -E 's/.* it takes ([0-9.]+ ms) vs ([0-9.]+ ms) to download it \(([0-9.]+)x.*/\1 vs \2 download|\3×/' <<<"$summary")
  row "registration: S3 bytes read ($size zip)" "≤ 256 KiB" "$read_bytes" "$met"
  row "registration vs whole download (s3s-fs)" "keep (756× on main)" "${times%|*}" "${times#*|}"
else
  row "registration" "≤ 256 KiB; keep 756×" "failed" "see $logs/register.log"
fi

l="$logs/lambda.log"
size=$(metric "$l" lambda_size_max); zipped=$(metric "$l" lambda_zipped_max)
if [ -n "$size" ]; then
  row "Lambda bootstrap, largest (stripped; zipped)" "≤ 8 MB" \
    "$(calc '%.2f MiB (%.2f MiB zipped)' "$size / 1048576, $zipped / 1048576")" \
    "$(verdict "$size" 8000000) (zipped: $(verdict "$zipped" 8000000))"
  init=$(metric "$l" lambda_init_max_median); rr_init=$(metric "$l" register_release_init_median)
  row "Lambda cold init, slowest median (exec → /next, 1 CPU)" "≤ 5 ms" \
    "$init ms (register-release ${rr_init:-?} ms)" "$(verdict "$init" 5)"
  rss=$(metric "$l" register_release_peak_rss); mib=$(metric "$l" register_release_release_mib)
  row "register-release peak RSS (${mib:-?} MiB release)" "≤ 16 MiB" \
    "$( [ -n "$rss" ] && calc '%.1f MiB' "$rss / 1048576" )" "$(verdict "$rss" 16777216)"
else
  row "Lambda size/init/RSS" "≤ 8 MB, ≤ 5 ms, ≤ 16 MiB" "failed" "see $l"
fi

e="$logs/engine.log"
ratio=$(grep -oE 'ratio: ferry-engine / moto = [0-9.]+x \(server time\)' "$e" 2>/dev/null | grep -oE '[0-9.]+x' || true)
ours=$(grep -oE '= [0-9]+ transitions/s' "$e" 2>/dev/null | sort -t' ' -k2 -n | tail -1 | grep -oE '[0-9]+' || true)
theirs=$(grep -E '^moto:' "$e" 2>/dev/null | grep -oE '[0-9.]+ transitions/s' || true)
row "engine vs moto (Map state, server time)" "faster than moto" \
  "${ours:-?} vs ${theirs:-failed}" "${ratio:-see $e}"

b="$logs/burst.log"
burst=$(grep -E '^median events/s' "$b" 2>/dev/null || true)
if [ -n "$burst" ]; then
  row "burst of uploads (pump on moto)" "200 events/s (moto-bound)" \
    "$(sed -E 's/^median events\/s: concurrency ([0-9]+) ([0-9.]+),.*/\2 events\/s at \1 in flight/' <<<"$burst")" \
    "$(grep -oE '[0-9.]+×$' <<<"$burst") vs 1 in flight"
else
  row "burst of uploads" "200 events/s (moto-bound)" "failed" "see $b"
fi

d="$logs/deploy.log"
t=$(metric "$d" transitions_3env)
row "state transitions per 3-environment deploy" "report" "${t:-failed}" "-"
fe=$(metric "$d" one_env_ferry); ba=$(metric "$d" one_env_bare); r=$(metric "$d" one_env_ratio)
row "one env plan+apply: ferry vs bare terraform" "≤ 5×" \
  "${fe:-?} s vs ${ba:-?} s" "${r:+${r}× $(verdict "$r" 5)}"

g="$logs/gate.log"
open=$(metric "$g" gate_open); decide=$(metric "$g" gate_decide)
row "gate: plan build end → status + notification" "≤ 0.5 s" "${open:-failed} s" "$(verdict "$open" 0.5)"
row "gate: ferry approve → apply build start" "≤ 0.5 s" "${decide:-failed} s" "$(verdict "$decide" 0.5)"

echo
echo "Ferry benchmarks ($(cat "$logs/mode" 2>/dev/null || echo "unknown") run; bench binaries: $profile; logs: $logs)"
{
  echo "benchmark|goal|measured|ratio/verdict"
  echo "---|---|---|---"
  printf '%s\n' "${rows[@]}"
} | python3 -c '
# Pads by characters, not bytes: the cells hold "≤", "×" and "→".
import sys
rows = [line.rstrip("\n").split("|") for line in sys.stdin]
widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
for n, r in enumerate(rows):
    cells = ["-" * w if n == 1 else c.ljust(w) for c, w in zip(r, widths)]
    print("| " + " | ".join(cells) + " |")
'
exit "$failed"
