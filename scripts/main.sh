#!/usr/bin/env bash
# The main job: set up, run both environments on the bundled local model (no API key, no
# network; grid in scripts/main-job.toml), print the results table, label the reasoning and
# write the report.
# Rerunning resumes a partial run and reuses a finished one.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/corrigibench sweep scripts/main-job.toml "$@"
.venv/bin/corrigibench traces results/main-job >/dev/null   # reasoning categories (patterns)
.venv/bin/corrigibench report results/main-job
