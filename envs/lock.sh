#!/usr/bin/env bash
# Refresh envs/constraints.txt: the exact versions envs/install.sh installs. Resolves pyproject.toml's ranges
# afresh in a throwaway venv (newest releases the ranges allow), then freezes it. Run it on purpose, rerun the
# default and `python -m shard.readme check` (or `update`), and commit the lock with the README it produced.
#   bash envs/lock.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --upgrade pip
# shellcheck disable=SC2086
"$tmp/venv/bin/python" -m pip install -q $TORCH_SPEC
"$tmp/venv/bin/python" -m pip install -q ".[test,slurm]"
"$tmp/venv/bin/python" -m pip install -q --no-deps $(sed -n 's/^NO_DEPS=(\(.*\))$/\1/p' envs/install.sh)
{
  echo "# The versions envs/install.sh installs (pip -c): the set the README's numbers were made with."
  echo "# Refresh with 'bash envs/lock.sh'. torch is pinned by install.sh's TORCH_SPEC instead (CPU or CUDA build)."
  echo "pip==$("$tmp/venv/bin/python" -m pip --version | cut -d' ' -f2)"
  "$tmp/venv/bin/python" -m pip freeze --exclude-editable | grep -v -E '^(shard|torch)([=@ ]|$)' | LC_ALL=C sort -f
} > envs/constraints.txt
echo "wrote envs/constraints.txt ($(grep -vc '^#' envs/constraints.txt) packages)"
