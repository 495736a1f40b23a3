#!/bin/sh
# The browser assets of every service's /docs, /redoc and /asyncapi pages (Swagger UI, ReDoc, the AsyncAPI React
# component's standalone bundle), from the npm registry with the machine's npm, exactly as the committed lock file
# docs_assets/package-lock.json says (`npm ci`), into docs_assets/node_modules (`make docs-assets`; the container
# image runs it in its build stage). The services serve them themselves (harbour/http/docs.py): no page loads anything from a CDN.
# Peer dependencies are left out: only the packages' prebuilt standalone bundles are served, and those carry React
# and the rest inside. No install script of any package runs. Quiet when the lock file's tree is in place.
set -eu
DIR="$(cd "$(dirname "$0")/.." && pwd)/docs_assets"
STAMP="$DIR/node_modules/.package-lock.json"
if [ -f "$STAMP" ] && [ "$STAMP" -nt "$DIR/package-lock.json" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "error: npm is needed to install the documentation pages' assets (Debian: apt-get install npm)" >&2
  exit 1
fi
echo "installing the documentation pages' assets (swagger-ui-dist, redoc, @asyncapi/react-component) with npm ci"
cd "$DIR"
npm ci --omit=peer --ignore-scripts --no-audit --no-fund --loglevel=error
