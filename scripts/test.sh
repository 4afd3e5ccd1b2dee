#!/usr/bin/env bash
# Set up and run the whole test suite (this is what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
