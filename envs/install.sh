#!/usr/bin/env bash
# One-step setup on a fresh Debian/Ubuntu machine: system packages (WordNet, sox, espeak-ng; the
# openttd-opensfx sound effects when config.yaml uses the sfx corpus), a virtual environment in .venv
# with the CPU build of torch and this package, and WordNet copied where nltk finds it.
# Every Python package comes at the version envs/constraints.txt locks (refresh it with envs/lock.sh), so a
# fresh clone next month installs what the README's numbers were made with.
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
LOCK=envs/constraints.txt
"$VENV/bin/python" -m pip install -q -c "$LOCK" --upgrade pip >/dev/null
# shellcheck disable=SC2086
"$VENV/bin/python" -m pip install -q $TORCH_SPEC
"$VENV/bin/python" -m pip install -q -c "$LOCK" -e ".[test,slurm]"  # slurm: the executor plugin (profiles/slurm, tests/test_slurm.py)
# Voxtral's tokenizer (the hf backend's Voxtral, and its tiny test model): --no-deps, because mistral-common's
# metadata pins numpy < 2.4 on Python <= 3.12 and would replace the numpy every result here was computed with
NO_DEPS=(mistral-common tiktoken pycountry pydantic-extra-types)
"$VENV/bin/python" -m pip install -q -c "$LOCK" --no-deps "${NO_DEPS[@]}"
"$VENV/bin/python" -m shard.dataset.wordnet
echo "setup done: activate with 'source $VENV/bin/activate'"
