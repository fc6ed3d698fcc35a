#!/bin/sh
# Regenerate po/sotto.pot without meson (meson does the same with
# `meson compile -C _build sotto-pot`). Rust files are read as C, which
# xgettext handles well for string literals and calls.
set -eu
cd "$(dirname "$0")/.."
grep -v '^#' po/POTFILES | grep -v '\.rs$' > /tmp/sotto-potfiles-other.$$
grep '\.rs$' po/POTFILES > /tmp/sotto-potfiles-rs.$$
xgettext --package-name=sotto --package-version=0.1.0 --msgid-bugs-address=https://sotto.im/issues \
  --from-code=UTF-8 --add-comments=Translators \
  -f /tmp/sotto-potfiles-other.$$ -o po/sotto.pot
xgettext --join-existing --from-code=UTF-8 --add-comments=Translators --language=C \
  --keyword=gettext --keyword=gettext_f --keyword=ngettext_f:1,2 \
  -f /tmp/sotto-potfiles-rs.$$ -o po/sotto.pot
rm -f /tmp/sotto-potfiles-other.$$ /tmp/sotto-potfiles-rs.$$
