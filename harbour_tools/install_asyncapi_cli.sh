#!/bin/sh
# The AsyncAPI CLI (@asyncapi/cli, pinned with its whole dependency tree by harbour_tools/asyncapi_cli/package-lock.json)
# from the npm registry into var/npm, for the test that validates schemas/asyncapi/*.json with it
# (tests/integration/test_asyncapi_documents.py). Nothing global: `npm ci --prefix var/npm`. Quiet when the installed
# tree is the locked one; Node.js and npm come from Debian's packages (apt-get) when the machine has neither.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOCKED="$ROOT/harbour_tools/asyncapi_cli"
PREFIX="$ROOT/var/npm"
if [ -x "$PREFIX/node_modules/.bin/asyncapi" ] && cmp -s "$LOCKED/package-lock.json" "$PREFIX/.installed.lock"; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: Node.js and npm are needed for the AsyncAPI CLI (Debian: apt-get install nodejs npm) and there is no apt-get here" >&2
    exit 1
  fi
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
  echo "installing Debian's nodejs and npm packages for the AsyncAPI CLI"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
echo "installing @asyncapi/cli (locked in harbour_tools/asyncapi_cli) into var/npm"
mkdir -p "$PREFIX"
cp "$LOCKED/package.json" "$LOCKED/package-lock.json" "$PREFIX/"
# --ignore-scripts: the tree's install scripts are a shell-completion setup and a usage beacon (@scarf/scarf)
# that calls home; the CLI needs neither (the validation ran without them when the lock was made).
npm ci --prefix "$PREFIX" --ignore-scripts --no-audit --no-fund --loglevel=error
# The CLI sends usage metrics unless its config file says not to (and writes one into $HOME otherwise): the test
# points ASYNCAPI_METRICS_CONFIG_PATH here, so a test run makes no request and leaves nothing outside the tree.
printf '{"analyticsEnabled":"false","infoMessageShown":"true","userID":"harbour-tests"}\n' > "$PREFIX/asyncapi-analytics.json"
cp "$LOCKED/package-lock.json" "$PREFIX/.installed.lock"
ASYNCAPI_METRICS_CONFIG_PATH="$PREFIX/asyncapi-analytics.json" "$PREFIX/node_modules/.bin/asyncapi" --version >/dev/null 2>&1 || {
  echo "error: @asyncapi/cli installed into var/npm, but it does not run (node $(node --version))" >&2
  exit 1
}
