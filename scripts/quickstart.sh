#!/usr/bin/env bash
# One command for a fresh Debian/Ubuntu machine: install what Axiom Lab needs, build it, and run
# the whole research loop on this machine (axiom demo). Arguments go to axiom demo, e.g. --fresh.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/start-mariadb.sh
npm ci --no-audit --no-fund
node bin/axiom.js demo --yes "$@"
