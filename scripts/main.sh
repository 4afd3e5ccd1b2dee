#!/usr/bin/env bash
# The main job: set up, run both environments with the scripted reference policies on a
# few published conditions, and print the results tables (logs in results/main-job).
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
.venv/bin/corrigibench run reward_hints \
  --model scripted/honest,scripted/gamer,scripted/plain-only-gamer,scripted/decoder-gamer,scripted/coin \
  --condition figure:encodings,figure:labels,control --epochs 5 --log-dir "$out" "$@"
.venv/bin/corrigibench report "$out"
