#!/usr/bin/env bash
# Runs Qlik's official @qlik/api client against a tenant (normally the qcb emulator).
# Needs QCB_TENANT (e.g. http://127.0.0.1:41234) and QCB_API_KEY; optional QCB_CLIENT_ID and
# QCB_CLIENT_SECRET (OAuth client credentials). Without QCB_TENANT/QCB_API_KEY the tests skip.
# Extra arguments go to `node --test` (e.g. --test-reporter=tap).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "run.sh: node and npm are required (Node >= 20)" >&2
  exit 127
fi

# (Re)install exactly what package-lock.json pins when node_modules is missing or stale.
if [ ! -f node_modules/@qlik/api/package.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

exec node --test "$@" qlik-api.test.mjs
