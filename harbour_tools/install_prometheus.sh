#!/bin/sh
# Prometheus and promtool from Debian's package `prometheus`, installed when either is missing (`make tools`).
# The tests need the real ones: promtool checks and unit-tests the alert rules, and a Prometheus scrapes a running
# platform to prove every dashboard query returns data. Quiet when both are there; fails loudly otherwise.
set -eu
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: prometheus and promtool are needed (Debian: apt-get install prometheus) and there is no apt-get here" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
# The package's maintainer scripts would start a Prometheus daemon on :9090; the tests run their own on a free port
# with their own data directory, so none is wanted. A policy-rc.d that says "no" (101) keeps invoke-rc.d and
# deb-systemd-invoke from starting it; one the machine already has is left as it is.
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 755 "$POLICY"
  trap '$SUDO rm -f "$POLICY"' EXIT
fi
echo "installing Debian's prometheus package (prometheus, promtool) for the tests"
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
# Under systemd the package also enables its unit for the next boot: the tests do not want it either.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || {
  echo "error: Debian's prometheus package installed, but prometheus or promtool is still not on PATH" >&2
  exit 1
}
