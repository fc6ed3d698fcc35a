#!/usr/bin/env bash
# Backup benchmark (issue 8): export and import of 100,000 and 1,000,000
# messages, time and peak resident memory of each phase in its own process
# (release build, age's default scrypt work factor). Figures go into
# benches/README.md by hand. Also runs the 100k round-trip test.
set -euo pipefail
cd "$(dirname "$0")/.."
run() { cargo test --release --no-default-features --test backup -q -- --ignored --exact "$@" --nocapture; }
cargo test --release --no-default-features --test backup --no-run -q
run round_trip_of_100k_messages 2>&1 | grep -E "generated|exported|imported|test result"
for n in ${SOTTO_BENCH_SIZES:-100000 1000000}; do
  dir=$(mktemp -d /tmp/sotto-bench-backup.XXXXXX)
  for phase in generate export import; do
    SOTTO_BENCH_PHASE=$phase SOTTO_BENCH_DIR=$dir SOTTO_BENCH_MESSAGES=$n \
      run bench_backup_phase 2>&1 | grep '^bench:'
  done
  ls -l "$dir/bench.age" | awk '{print "bench: file " $5 " bytes"}'
  rm -rf "$dir"
done
