#!/usr/bin/env bash
# Puts Debian's chromium (and a font, so pages render text) in place for the browser tests, or says exactly what to
# run. Called by `make test` and `.ci/run` (one copy of the rule). Playwright drives this system browser; it never
# downloads a browser of its own (docs/decisions.md, "The browser is Debian's chromium").
set -euo pipefail

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
PACKAGES=(chromium fonts-dejavu-core)

if [ -x "$CHROMIUM" ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "The browser tests need Chromium at $CHROMIUM (set CHROMIUM_PATH to use another one)." >&2
  echo "This machine has no apt-get: install Chromium with your system's package manager, then run make test again." >&2
  exit 1
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    echo "The browser tests need Debian's chromium, which is not installed. Run this once, then make test again:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${PACKAGES[*]}" >&2
    exit 1
  fi
fi

echo "Installing Debian's chromium for the browser tests (once): apt-get install ${PACKAGES[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
if [ ! -x "$CHROMIUM" ]; then
  echo "apt-get finished but $CHROMIUM is still missing; install chromium by hand and run make test again." >&2
  exit 1
fi
"$CHROMIUM" --version 2>/dev/null || true
