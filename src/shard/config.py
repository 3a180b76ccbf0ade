"""Config validation: the JSON Schema (config.schema.yaml) plus the checks a schema cannot express.

The Snakefile calls `validate_config(config)` before any job runs; a bad config stops there with one
message naming the key and the fix.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import copy

import jsonschema
import yaml

from .common import ShardError

NEEDS_ROOT = {"audioset", "audioset_strong", "esc50", "fsd50k", "manifest"}


def schema() -> dict:
    """The schema, with every property that has no `default` made required: a key missing from a
    user's config is then named in the error, instead of surfacing later as a KeyError in a job."""
    doc = yaml.safe_load(resources.files("shard").joinpath("config.schema.yaml").read_text())

    def require(node: dict) -> None:
        props = node.get("properties")
        if node.get("type") == "object" and props:
            node["required"] = sorted(set(node.get("required", [])) |
                                      {k for k, v in props.items() if "default" not in v})
            for child in props.values():
                require(child)

    require(doc)
    return doc


def _fill_defaults(node_schema: dict, cfg: dict) -> None:
    """Set the schema's defaults for absent keys, in place (what the stages then read)."""
    for key, sub in node_schema.get("properties", {}).items():
        if key not in cfg and "default" in sub:
            cfg[key] = copy.deepcopy(sub["default"])
        if isinstance(cfg.get(key), dict) and sub.get("type") == "object":
            _fill_defaults(sub, cfg[key])


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def validate_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Raise ShardError naming the first bad key; fill the schema's defaults in place; return cfg."""
    if not isinstance(cfg, dict):
        raise ShardError("the config is empty or not a mapping; start from the repository's config.yaml")
    doc = schema()
    _fill_defaults(doc, cfg)
    validator = jsonschema.Draft202012Validator(doc)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        if e.validator == "additionalProperties":
            hint = "remove it or fix its spelling (every key is listed in src/shard/config.schema.yaml)"
        elif e.validator == "required":
            hint = "add it (config.yaml shows every key with its default value)"
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
    if corpus["kind"] == "synth":
        from .corpora.synth import class_list

        class_list(corpus["synth"].get("classes"))  # raises naming corpus.synth.classes
    pre = cfg["pretrain"]
    if pre["hidden_size"] % pre["heads"]:
        raise ShardError(f"config keys 'pretrain.hidden_size' ({pre['hidden_size']}) and 'pretrain.heads' "
                         f"({pre['heads']}): the hidden size must be a multiple of the number of heads")
    base = cfg["model"].get("base")
    if base and not Path(base).exists():
        raise ShardError(f"config key 'model.base': '{base}' does not exist; point it at a local "
                         "checkpoint directory, or set it to null to pretrain mini_ltu")
    if cfg["model"]["backend"] != "mini_ltu" and not base:
        raise ShardError(f"config key 'model.base' is required for model.backend={cfg['model']['backend']}: "
                         "weights are never downloaded, point it at a local checkpoint")
    if cfg["model"]["backend"] != "mini_ltu":
        raise ShardError(f"config key 'model.backend': '{cfg['model']['backend']}' is not implemented in this "
                         "version (the model interface is ready for it); use mini_ltu")
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
