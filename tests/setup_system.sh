#!/usr/bin/env bash
# System packages the tests need (Debian): chromium for the browser tests.
# Idempotent; skipped when already present. Playwright's own browser download
# does not work here, so the tests drive Debian's chromium.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup_system: chromium is missing and cannot be installed here (need root and apt-get); browser tests will be skipped." >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
