#!/usr/bin/env bash
# What the tests need beyond the virtualenv: Debian's chromium for the browser tests, and axe-core (npm)
# for the accessibility tests (tests/site/test_a11y.py), installed under build/node/ (git-ignored).
# Idempotent; each step is skipped when already done. Playwright's own browser download does not work
# here, so the tests drive Debian's chromium. A missing piece is reported, and its tests skip.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup_system: chromium is missing and cannot be installed here (need root and apt-get); browser tests will be skipped." >&2
  else
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
  fi
fi

AXE_PREFIX=build/node
if [ ! -f "$AXE_PREFIX/node_modules/axe-core/axe.min.js" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "setup_system: npm is missing, so axe-core cannot be installed; the accessibility tests will be skipped." >&2
  elif ! npm install --prefix "$AXE_PREFIX" --no-audit --no-fund --silent axe-core@4; then
    echo "setup_system: npm could not install axe-core; the accessibility tests will be skipped." >&2
  fi
fi
