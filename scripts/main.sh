#!/usr/bin/env bash
# The main job: set up, run both environments on the bundled local model (no API key, no
# network; grid in scripts/main-job.toml), import a published transcript set that ships with
# corrigibench (20 DeepSeek V4 Flash episodes of a public odd-number replication, MIT), print
# the results table, label the reasoning of both and write the report.
# Rerunning resumes a partial run and reuses a finished one.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/corrigibench sweep scripts/main-job.toml "$@"
.venv/bin/corrigibench import rows published:theamankumarsingh-odd-number-forensics \
    --log-dir results/main-job/published >/dev/null
echo; echo "With the published set imported (results/main-job/published):"; echo
.venv/bin/corrigibench table results/main-job
.venv/bin/corrigibench traces results/main-job >/dev/null   # reasoning categories (patterns)
.venv/bin/corrigibench report results/main-job
