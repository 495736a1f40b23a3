#!/bin/sh
# Chromium from Debian's package `chromium`, installed when /usr/bin/chromium is missing (`make browser`).
# The docs page test (tests/integration/test_docs_pages.py) drives it with Playwright for Python, pointed at this
# binary: Playwright's own browser download (`playwright install`) fetches a build from outside the package
# registries, which the project never does. Quiet when it is there; fails loudly otherwise.
set -eu
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: $CHROMIUM is needed (Debian: apt-get install chromium) and there is no apt-get here" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
echo "installing Debian's chromium package for the docs page test"
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
[ -x "$CHROMIUM" ] || {
  echo "error: Debian's chromium package installed, but $CHROMIUM is still not there" >&2
  exit 1
}
