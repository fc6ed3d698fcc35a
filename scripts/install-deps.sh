#!/usr/bin/env bash
# Installs the Debian 12 packages Sotto needs to build, run and test, but
# only those that are missing. Safe to run again. Needs root (or sudo).
set -euo pipefail
packages=(
  # build
  build-essential pkg-config libgtk-4-dev libadwaita-1-dev libssl-dev
  libglib2.0-dev-bin libxml2-utils gettext meson ninja-build
  # camera (QR scanning): appsink, videoconvert/videoscale (base),
  # v4l2src, pngdec, imagefreeze (good)
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  # run: Secret Service
  dbus dbus-x11 gnome-keyring
  # tests: server, display, validators, tools
  prosody lua-unbound openssl ca-certificates xvfb xauth
  desktop-file-utils appstream python3-venv age zstd
  fonts-cantarell fonts-noto-color-emoji adwaita-icon-theme
)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "Installing: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >&2
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
# Debian starts prosody as a system service on install; the tests run
# their own instances, so stop the system one if it came up.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prosody 2>/dev/null; then
  $SUDO systemctl stop prosody || true
fi
