#!/usr/bin/env bash
# One-step setup on a fresh Debian/Ubuntu machine: system packages (WordNet, sox, espeak-ng; the
# openttd-opensfx sound effects when config.yaml uses the sfx corpus), a virtual environment in .venv
# with the CPU build of torch and this package, and WordNet copied where nltk finds it.
# Idempotent: a second run installs nothing new. Override the torch build with TORCH_SPEC, e.g.
#   TORCH_SPEC="torch==2.13.0 --index-url <your CUDA wheel index>" bash envs/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
CONFIG=${CONFIG:-config.yaml}

debs=(wordnet-base wordnet-sense-index sox espeak-ng chromium)  # chromium: the SHARD browser's test
grep -Eq '^\s*kind:\s*sfx' "$CONFIG" 2>/dev/null && debs+=(openttd-opensfx)
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
# shellcheck disable=SC2086
"$VENV/bin/python" -m pip install -q $TORCH_SPEC
"$VENV/bin/python" -m pip install -q -e ".[test,slurm]"  # slurm: the executor plugin (profiles/slurm, tests/test_slurm.py)
# Voxtral's tokenizer (the hf backend's Voxtral, and its tiny test model): --no-deps, because mistral-common's
# metadata pins numpy < 2.4 on Python <= 3.12 and would replace the numpy every result here was computed with
"$VENV/bin/python" -m pip install -q --no-deps mistral-common==1.12.0 tiktoken==0.14.0 pycountry==26.2.16 \
    pydantic-extra-types==2.11.1
"$VENV/bin/python" -m shard.wordnet
echo "setup done: activate with 'source $VENV/bin/activate'"
