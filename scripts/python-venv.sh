#!/usr/bin/env bash
# Creates (or refreshes) the python venv used by the OMEMO interop tests, the
# python benchmark and the XMPP test bot. Idempotent: re-running only installs
# what requirements.txt adds. Prints the venv's python path on stdout.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SOTTO_PY_VENV:-$REPO/target/py-venv}"
REQ="$REPO/tests/interop/requirements.txt"

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" >&2
fi
# The stamp avoids a pip round-trip when requirements did not change.
STAMP="$VENV/.sotto-requirements.sha256"
WANT="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ" >&2
    echo "$WANT" > "$STAMP"
fi
echo "$VENV/bin/python"
