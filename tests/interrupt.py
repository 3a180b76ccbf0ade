"""Stop a training job right after one of its checkpoints, from outside the training code.

    env = interrupt_env("kill", 4)   # for a subprocess: `python -m shard.models.finetune ...`, or a whole snakemake run

Every Python process started with `env` replaces shard.models.train.checkpoint_saved (a no-op) as soon as it imports
shard.models.train: right after writing the checkpoint of step 4 it SIGKILLs itself ("kill"), or waits there for up to
10 minutes to be cancelled ("hold"). The replacement is tests/interrupt_hook/sitecustomize.py, first on
PYTHONPATH, which Python imports at start-up.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV = "SHARD_TEST_INTERRUPT"
HOOK_DIR = Path(__file__).resolve().parent / "interrupt_hook"
ACTIONS = ("kill", "hold")


def interrupt_env(action: str, step: int, env: dict | None = None) -> dict:
    """`env` (default os.environ) with the hook on PYTHONPATH, set to `action` after the checkpoint of `step`."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}, not {action!r}")
    env = dict(os.environ if env is None else env)
    path = os.pathsep.join(p for p in (str(HOOK_DIR), env.get("PYTHONPATH")) if p)
    return {**env, ENV: f"{action}:{step}", "PYTHONPATH": path}
