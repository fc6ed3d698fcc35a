#!/usr/bin/env bash
# Run a command inside a private D-Bus session with an unlocked
# gnome-keyring (Secret Service), so nothing needs a person to type a
# password and nothing outlives the command. Used by the test suite.
set -euo pipefail
if [ "${SOTTO_IN_KEYRING:-}" = 1 ]; then exec "$@"; fi
orig_home="$HOME"
tmp=$(mktemp -d /tmp/sotto-keyring.XXXXXX)
mkdir -p "$tmp/home" "$tmp/data" "$tmp/runtime" "$tmp/config" "$tmp/cache"
chmod 700 "$tmp/runtime"
export HOME="$tmp/home" XDG_DATA_HOME="$tmp/data" XDG_RUNTIME_DIR="$tmp/runtime" \
       XDG_CONFIG_HOME="$tmp/config" XDG_CACHE_HOME="$tmp/cache"
# The real cargo/rustup live under the old HOME; keep them reachable.
export CARGO_HOME="${CARGO_HOME:-$orig_home/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$orig_home/.rustup}"
export SOTTO_IN_KEYRING=1
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
dbus-run-session -- bash -c '
  set -e
  eval "$(printf sotto-test | gnome-keyring-daemon --unlock --components=secrets)"
  export GNOME_KEYRING_CONTROL
  # gnome-keyring-daemon forks; remember it so it dies with us.
  kpid=$(pgrep -n -u "$(id -u)" gnome-keyring-d || true)
  set +e
  "$@"; rc=$?
  [ -n "$kpid" ] && kill "$kpid" 2>/dev/null
  exit $rc
' bash "$@"
