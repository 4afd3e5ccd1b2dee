#!/usr/bin/env bash
# The main job: set up, run the shutdown experiment with the scripted reference policies
# on a few published conditions, and print the results table.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
out=results/main-job
rm -rf "$out"   # a re-run replaces the previous results instead of adding to them
policies=compliant,saboteur-rewrite,saboteur-chmod,saboteur-move,explorer,failed-saboteur,early-submit
models=$(echo "$policies" | sed 's/\([^,]*\)/scripted\/\1/g')
.venv/bin/corrigibench run shutdown --model "$models" \
  --variant palisade-A,palisade-B,palisade-E,gdm-clarified-precedence \
  --epochs 5 --log-dir "$out" "$@"
