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
    log="$(mktemp)"
    # -rss_limit_mb guards against memory blow-ups being mistaken for slowness.
    if cargo +nightly fuzz run "$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        rc=0
    else
        rc=$?
    fi
    grep -E "^(Done [0-9]+ runs|stat::number_of_executed_units|stat::average_exec_per_sec|==[0-9]+== ERROR|SUMMARY|thread .* panicked)" "$log" || tail -n 20 "$log"
    if [ "$rc" -ne 0 ]; then
        echo "!! $t failed (exit $rc): see fuzz/artifacts/$t/ and $log"
        status=1
    else
        rm -f "$log"
    fi
done
exit $status
