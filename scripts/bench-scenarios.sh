#!/bin/sh
# Scenario benchmarks of issue 4 (benches/README.md, "Scenario benchmarks
# (issue 4)"): MAM catch-up of 10,000 OMEMO messages, Sotto against
# python-omemo, and one message to a contact with 10 devices while 300
# sessions exist. Real Prosody, real python-omemo clients; takes minutes.
#
#   scripts/bench-scenarios.sh                 # both
#   scripts/bench-scenarios.sh mam_catch_up    # one (a test name filter)
#   SOTTO_BENCH_MESSAGES=2000 scripts/bench-scenarios.sh mam_catch_up
set -eu
cd "$(dirname "$0")/.."
[ -x target/py-venv/bin/python ] || [ -n "${SOTTO_TEST_PYTHON:-}" ] || scripts/python-venv.sh
exec scripts/with-keyring.sh cargo test --release --no-default-features --test scenario_bench \
    -- --ignored --nocapture --test-threads=1 "$@"
