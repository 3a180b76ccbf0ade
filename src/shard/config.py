"""Config validation: the JSON Schema (config.schema.yaml) plus the checks a schema cannot express.

The Snakefile calls `validate_config(config)` before any job runs; a bad config stops there with one
message naming the key and the fix.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .common import ShardError

NEEDS_ROOT = {"audioset", "audioset_strong", "esc50", "fsd50k", "manifest"}


def schema() -> dict:
    return yaml.safe_load(resources.files("shard").joinpath("config.schema.yaml").read_text())


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def validate_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Raise ShardError naming the first bad key; return cfg unchanged when it is valid."""
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(cfg), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        if e.validator == "additionalProperties":
            hint = "remove it or fix its spelling (every key is listed in src/shard/config.schema.yaml)"
        else:
            hint = "see src/shard/config.schema.yaml for the allowed values"
        raise ShardError(f"config key '{_key(e.absolute_path)}': {e.message}; {hint}")

    corpus = cfg["corpus"]
    if corpus["kind"] in NEEDS_ROOT:
        root = corpus.get("root")
        if not root:
            raise ShardError(f"config key 'corpus.root' is required for corpus.kind={corpus['kind']}: "
                             "set it to the corpus directory")
        if not Path(root).is_dir():
            raise ShardError(f"config key 'corpus.root': directory '{root}' does not exist; "
                             "point it at the corpus directory")
    base = cfg["model"].get("base")
    if base and not Path(base).exists():
        raise ShardError(f"config key 'model.base': '{base}' does not exist; point it at a local "
                         "checkpoint directory, or set it to null to pretrain mini_ltu")
    if cfg["model"]["backend"] != "mini_ltu" and not base:
        raise ShardError(f"config key 'model.base' is required for model.backend={cfg['model']['backend']}: "
                         "weights are never downloaded, point it at a local checkpoint")
    if cfg["model"]["frontend"] not in cfg["features"]["frontends"]:
        raise ShardError(f"config key 'model.frontend': '{cfg['model']['frontend']}' is not in "
                         f"features.frontends {cfg['features']['frontends']}; add it there")
    return cfg


def load_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ShardError(f"config file '{path}' does not exist")
    with open(path) as fh:
        return validate_config(yaml.safe_load(fh))


def scale_name(n: int) -> str:
    """400 -> '400', 10000 -> '10k', 40000 -> '40k', 1000000 -> '1m' (names targets like ft_40k)."""
    for div, suffix in ((1_000_000, "m"), (1_000, "k")):
        if n >= div and n % div == 0:
            return f"{n // div}{suffix}"
    return str(n)
