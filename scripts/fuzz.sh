#!/usr/bin/env bash
# Runs every OMEMO fuzz target (fuzz/) for a bounded time each. Not part of CI.
#   scripts/fuzz.sh [seconds-per-target] [target...]
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Crashes land in fuzz/artifacts/<target>/; the corpus grows in fuzz/corpus/<target>/.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_TARGET="${1:-60}"
shift || true
cd "$REPO/fuzz"
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    mapfile -t TARGETS < <(cargo +nightly fuzz list)
fi
status=0
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus/$t"
    echo "== $t (${SECONDS_PER_TARGET}s)"
    # -rss_limit_mb guards against memory blow-ups being mistaken for slowness.
    if ! cargo +nightly fuzz run "$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
        | grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|==[0-9]+==|SUMMARY|thread .* panicked|Done [0-9]+ runs)"; then
        :
    fi
    if [ "${PIPESTATUS[0]}" -ne 0 ]; then
        echo "!! $t found a crash: see fuzz/artifacts/$t/"
        status=1
    fi
done
exit $status
