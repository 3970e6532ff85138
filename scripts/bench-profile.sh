# Sourced by the bench scripts: the build the benches use, from BENCH_PROFILE — perf (the
# default: Cargo.toml's optimised profile without the Lambdas' fat LTO), debug or release —
# as $profile and cargo's ${flags[@]}.
profile=${BENCH_PROFILE:-perf}
case "$profile" in
  perf) flags=(--profile perf) ;;
  release) flags=(--release) ;;
  debug) flags=() ;;
  *) echo "error: BENCH_PROFILE must be perf, debug or release, not $profile" >&2; exit 1 ;;
esac
