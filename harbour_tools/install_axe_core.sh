#!/bin/sh
# axe-core (pinned by harbour_tools/axe_core/package-lock.json) from the npm registry into var/npm/axe, for the
# signals page tests that inject it into Debian's chromium and fail on any serious or critical accessibility
# violation (tests/integration/test_signals_pages.py). Nothing global: `npm ci --prefix var/npm/axe`. Quiet when
# the installed tree is the locked one; Node.js and npm come with the AsyncAPI CLI's (install_asyncapi_cli.sh).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOCKED="$ROOT/harbour_tools/axe_core"
PREFIX="$ROOT/var/npm/axe"
if [ -f "$PREFIX/node_modules/axe-core/axe.min.js" ] && cmp -s "$LOCKED/package-lock.json" "$PREFIX/.installed.lock"; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "error: npm is needed for axe-core (Debian: apt-get install nodejs npm; \`make asyncapi-cli\` installs them)" >&2
  exit 1
fi
echo "installing axe-core (locked in harbour_tools/axe_core) into var/npm/axe"
mkdir -p "$PREFIX"
cp "$LOCKED/package.json" "$LOCKED/package-lock.json" "$PREFIX/"
npm ci --prefix "$PREFIX" --ignore-scripts --no-audit --no-fund --loglevel=error
cp "$LOCKED/package-lock.json" "$PREFIX/.installed.lock"
