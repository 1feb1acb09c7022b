#!/usr/bin/env bash
# Install what the JavaScript end-to-end tests need (tests/e2e/test_analytics_node.py and
# tests/e2e/test_browser.py): the npm packages pinned in tests/e2e/js/package-lock.json and
# Debian's chromium. Idempotent and quiet on success; run as root on Debian (CI and the
# developers' machines are). Node.js >= 20 and npm come with the machine.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
JS_DIR=tests/e2e/js
STAMP="$JS_DIR/node_modules/.e2e-deps-lock.sha256"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# Run a command silently; show its output only if it fails.
quietly() {
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        echo "e2e-deps: failed: $*" >&2
        exit 1
    fi
}

for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "e2e-deps: '$tool' is not installed (Node.js >= 20 with npm is required)" >&2
        exit 1
    fi
done

# npm packages: reinstall only when the lock file changed since the last install.
lock_sum="$(sha256sum "$JS_DIR/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$lock_sum" ]]; then
    quietly npm ci --prefix "$JS_DIR" --no-audit --no-fund --loglevel=error
    echo "$lock_sum" >"$STAMP"
fi

# Chromium from Debian (never a browser download by a test tool).
if [[ ! -x /usr/bin/chromium ]]; then
    export DEBIAN_FRONTEND=noninteractive
    quietly apt-get update
    quietly apt-get install -y chromium
fi
