#!/usr/bin/env bash
# Runs each fuzz target for a wall-clock time and reports the cases it executed and any failure.
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 60)
#
# The targets are proptest properties (stable Rust; `cargo fuzz` needs nightly). `cargo test`
# runs each with FERRY_FUZZ_CASES=200; here the test binary is run again and again with a
# growing batch of cases until the target's time is up, each run with fresh random seeds.
# A failure stops that target and prints proptest's minimal input; proptest also saves its
# seed beside the target as `<target>.proptest-regressions`, which every later run replays
# first: commit that file together with the fix.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

secs=${1:-60}
if ! [[ $secs =~ ^[0-9]+$ ]] || ((secs == 0)); then
    echo "usage: $0 [SECONDS_PER_TARGET]" >&2
    exit 2
fi

# name | package | cargo target flag | test-binary name | test filter | crate dir
targets=(
    "zipread|ferry-shared|--test fuzz_zipread|fuzz_zipread||shared"
    "manifest|ferry-shared|--test fuzz_manifest|fuzz_manifest||shared"
    "requests|ferry-shared|--test fuzz_requests|fuzz_requests||shared"
    "s3-keys|register-release|--test fuzz_keys|fuzz_keys||functions/register-release"
    "duration|ferry-cli|--bin ferry|ferry|fuzz::|cli"
    "asl|ferry-engine|--test fuzz_asl|fuzz_asl||local/engine"
)

log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT

# Build every target first, so the clock measures fuzzing, not compiling.
declare -A exe
for t in "${targets[@]}"; do
    IFS='|' read -r name pkg flag bin filter dir <<<"$t"
    # shellcheck disable=SC2086 # the flag is two words on purpose
    path=$(cargo test -p "$pkg" $flag --no-run --message-format=json 2>"$log_dir/build.log" |
        jq -r --arg bin "$bin" 'select(.reason == "compiler-artifact" and .profile.test
            and .target.name == $bin and .executable != null) | .executable' | tail -n 1)
    if [[ -z $path ]]; then
        cat "$log_dir/build.log" >&2
        echo "fuzz: could not build $name ($pkg $flag)" >&2
        exit 1
    fi
    exe[$name]=$path
done

summary=()
failed=0
for t in "${targets[@]}"; do
    IFS='|' read -r name pkg flag bin filter dir <<<"$t"
    # The properties are the target's tests other than the corpus replay and ignored helpers.
    props=$(cd "$dir" && "${exe[$name]}" --list ${filter:+"$filter"} 2>/dev/null |
        grep ': test$' | grep -cv -e corpus_replays -e write_seed_corpus || true)
    batch=${FERRY_FUZZ_BATCH:-200}
    cases=0
    runs=0
    status=ok
    start=$SECONDS
    deadline=$((start + secs))
    while ((SECONDS < deadline)); do
        left=$((deadline - SECONDS))
        t0=$SECONDS
        # A run that outlives the time left by a minute is stopped: the script always ends.
        if (cd "$dir" && FERRY_FUZZ_CASES=$batch timeout $((left + 60)) \
            "${exe[$name]}" ${filter:+"$filter"} --skip write_seed_corpus -q) \
            >"$log_dir/$name.log" 2>&1; then
            cases=$((cases + batch * props))
            runs=$((runs + 1))
            # Grow the batch while runs are short, so process start-up stays negligible.
            if ((SECONDS - t0 < 5 && batch < 1000000)); then batch=$((batch * 2)); fi
        else
            rc=$?
            if ((rc == 124)); then
                status="last run stopped by timeout"
            else
                status=FAILED
                failed=1
                echo "== $name: FAILED"
                grep -E -A3 'minimal failing input|panicked at|Test failed|thread .* panicked' \
                    "$log_dir/$name.log" | head -n 60 || tail -n 60 "$log_dir/$name.log"
                find "$dir" -name '*.proptest-regressions' -newer "$log_dir/build.log" \
                    -printf '   seed saved in %p\n' 2>/dev/null || true
            fi
            break
        fi
    done
    line=$(printf '%-9s %10d cases  (%d properties, %d runs, %ds)  %s' \
        "$name" "$cases" "$props" "$runs" $((SECONDS - start)) "$status")
    echo "$line"
    summary+=("$line")
done

printf '\n== fuzz summary (%ss per target)\n' "$secs"
printf '%s\n' "${summary[@]}"
exit "$failed"
