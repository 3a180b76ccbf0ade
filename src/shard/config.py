"""Config validation: the JSON Schema (config.schema.yaml) plus the checks a schema cannot express.

The Snakefile calls `validate_config(config)` before any job runs; a bad config stops there with one
message naming the key and the fix.
"""
from __future__ import annotations

import copy
import importlib
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from shard.common import ShardError
from shard.dataset.corpora.kinds import corpus_kind
from shard.models.backends import BACKENDS


SCHEMA = Path(str(resources.files("shard").joinpath("config.schema.yaml")))


# Keys whose allowed values are the names of a registry's records: in config.schema.yaml they carry
# `x-registry: NAME` instead of an enum, and schema() fills the enum from the registry, so a new record
# (a corpus kind, a front end, a relation, a backend) is a valid config value with no edit here. A section
# marked `x-registry-sections: NAME` also takes one key per record that carries its own `settings` (the
# JSON Schema of that key), e.g. features.NAME for a front end with settings.
REGISTRIES = {
    "backends": "shard.models.backends:BACKENDS",
    "corpora": "shard.dataset.corpora.kinds:CORPUS_KINDS",
    "frontends": "shard.dataset.frontends:FRONTENDS",
    "relations": "shard.dataset.relations:RELATIONS",
}


def registry(name: str) -> dict:
    """Registry `name` (REGISTRIES): record name -> record, in registration order."""
    module, attribute = REGISTRIES[name].split(":")
    return getattr(importlib.import_module(module), attribute)


def registry_names(name: str) -> list[str]:
    """The record names of registry `name`, in registration order."""
    return list(registry(name))


def _fill_enums(node):
    if isinstance(node, dict):
        if "x-registry" in node:
            node["enum"] = registry_names(node.pop("x-registry"))
        if "x-registry-sections" in node:
            for name, record in registry(node.pop("x-registry-sections")).items():
                if getattr(record, "settings", None) is not None:
                    node["properties"].setdefault(name, copy.deepcopy(record.settings))
        for value in node.values():
            _fill_enums(value)
    elif isinstance(node, list):
        for value in node:
            _fill_enums(value)
    return node


def schema() -> dict:
    """The schema, its registry enums filled: every property that has no `default` is listed as required in
    the file itself."""
    return _fill_enums(yaml.safe_load(SCHEMA.read_text()))


def _filling_defaults(validator_class):
    """A validator that fills each property's `default` in place before checking it (jsonschema's FAQ recipe,
    as snakemake.utils.validate does)."""
    check_properties = validator_class.VALIDATORS["properties"]

    def properties(validator, props, instance, sub_schema):
        if isinstance(instance, dict):
            for key, prop in props.items():
                if "default" in prop:
                    instance.setdefault(key, copy.deepcopy(prop["default"]))
        yield from check_properties(validator, props, instance, sub_schema)

    return jsonschema.validators.extend(validator_class, {"properties": properties})


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _explain(e: jsonschema.ValidationError) -> str:
    if e.validator == "additionalProperties":
        hint = "remove it or fix its spelling (every key is listed in src/shard/config.schema.yaml)"
    elif e.validator == "required":
        hint = "add it (config.yaml shows every key with its default value)"
    else:
        hint = "see src/shard/config.schema.yaml for the allowed values"
    return f"config key '{_key(e.absolute_path)}': {e.message}; {hint}"


def validate_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Raise ShardError naming the first bad key; fill the schema's defaults in place (snakemake.utils.validate);
    then the checks a schema cannot express. Returns cfg."""
    if not isinstance(cfg, dict):
        raise ShardError("the config is empty or not a mapping; start from the repository's config.yaml")
    full = schema()
    # the first error in key order, as a user reads the file; defaults are filled in place (the only ones there are)
    first = min(_filling_defaults(jsonschema.Draft202012Validator)(full).iter_errors(cfg),
                key=lambda e: list(map(str, e.absolute_path)), default=None)
    if first is not None:
        raise ShardError(_explain(first))

    _check_models(cfg)
    external_models(cfg)  # their names against the study's
    corpus_kind(cfg["corpus"]).check_config(cfg["corpus"])  # by its record: corpus.root, corpus.synth.classes, ...
    for name, sections in study_models(cfg).items():
        # name the key where the value was set: the model's own override, or the config's section
        over = (cfg["models"] or {}).get(name) or {}
        at = {k: f"models.{name}." if over.get(k) else "" for k in MODEL_SECTIONS}
        pre, model = sections["pretrain"], sections["model"]
        if pre["hidden_size"] % pre["heads"]:
            raise ShardError(f"config keys '{at['pretrain']}pretrain.hidden_size' ({pre['hidden_size']}) and "
                             f"'{at['pretrain']}pretrain.heads' ({pre['heads']}): the hidden size must be a multiple "
                             "of the number of heads")
        _check_model(model, at["model"])
        if sections["finetune"]["recipe"] == "authors" and not BACKENDS[model["backend"]].authors_recipe:
            raise ShardError(f"config key '{at['finetune']}finetune.recipe': backend {model['backend']} has no "
                             "fine-tuning recipe of its authors' (ltu has: LTU's stage 4); set it to lora")
        if model["frontend"] not in cfg["features"]["frontends"]:
            raise ShardError(f"config key '{at['model']}model.frontend': '{model['frontend']}' is not in "
                             f"features.frontends {cfg['features']['frontends']}; add it there")
    return cfg


def _layout_keys(node: dict, at: tuple = ()) -> list[tuple[str, ...]]:
    """The paths of the keys marked `x-layout: true` in the schema."""
    found = []
    for key, sub in (node.get("properties") or {}).items():
        if isinstance(sub, dict):
            found += [(*at, key)] if sub.get("x-layout") else _layout_keys(sub, (*at, key))
    return found


def outcome_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """A copy of the config without its layout keys (`x-layout: true` in the schema: how the work is cut into jobs,
    e.g. clips.shards, evaluate.shards, never a byte of any output): what the card shows and the provenance
    hashes, so they are the same for any layout."""
    out = copy.deepcopy(cfg)
    for path in _layout_keys(schema()):
        node = out
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return out


# the sections a model of `models` may override: what it is, how it is pretrained (mini_ltu), how fine-tuned
MODEL_SECTIONS = ("model", "pretrain", "finetune")


def _merged(base: dict, over: dict) -> dict:
    """A copy of `base` with `over`'s keys replaced, nested mappings merged key by key (as --configfile merges)."""
    from snakemake.utils import update_config

    out = copy.deepcopy(base)
    update_config(out, over)
    return out


def study_models(cfg: dict[str, Any]) -> dict[str, dict]:
    """name -> the `model`, `pretrain` and `finetune` sections of each model the study compares on the same
    items: the config's own sections with the model's overrides merged in (config `models`). Without
    `models`, the one model is the config's own, named by its backend (mini_ltu, ltu, hf)."""
    return {name: {k: _merged(cfg[k], (over or {}).get(k) or {}) for k in MODEL_SECTIONS}
            for name, over in _listed_models(cfg).items()}


def _listed_models(cfg: dict[str, Any]) -> dict[str, dict | None]:
    """name -> overrides of each model the study compares (config `models`, else the one named by its backend)."""
    return cfg.get("models") or {cfg["model"]["backend"]: {}}


def external_models(cfg: dict[str, Any]) -> dict[str, str]:
    """name -> folder of each model scored outside the workflow (config `external_models`, written by
    `python -m shard.harness import`): named by its folder, which no study model nor other folder may share."""
    out: dict[str, str] = {}
    for folder in cfg.get("external_models") or []:
        name = Path(folder).name
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name) or name in out or name in _listed_models(cfg):
            raise ShardError(f"config key 'external_models': the folder name '{name}' of {folder} names the model's "
                             "rows: make it unique among models and external_models, letters, digits, _ and - only")
        out[name] = folder
    return out


def _check_models(cfg: dict) -> None:
    """Each listed model's merged sections against the schema: a bad override names its key under models."""
    if not cfg.get("models"):
        return
    props = schema()["properties"]
    for name, sections in study_models(cfg).items():
        for section, value in sections.items():
            error = min(jsonschema.Draft202012Validator(props[section]).iter_errors(value),
                        key=lambda e: list(map(str, e.absolute_path)), default=None)
            if error is not None:
                error.path.extendleft(["models", name, section][::-1])
                raise ShardError(_explain(error))


def _check_model(model: dict, at: str = "") -> None:
    """By the backend's record (shard.models.backends): local weights only, checked before any job; a missing
    path names its key (under `at`, the listed model's prefix) and what to put there."""
    name, base, checkpoint = model["backend"], model["base"], model["checkpoint"]
    backend, reads = BACKENDS[name], BACKENDS[name].reads()
    if model["frontend"] not in reads:
        raise ShardError(f"config key '{at}model.frontend': backend {name} reads '{'/'.join(reads)}' "
                         f"features, not '{model['frontend']}'; set it (and add it to features.frontends)")
    if backend.base_required and not base:
        raise ShardError(f"config key '{at}model.base' is required for model.backend={name} (weights are never "
                         f"downloaded): set it to {backend.base}")
    if base and not (Path(base) / "config.json").is_file():
        raise ShardError(f"config key '{at}model.base': '{base}' is not a model directory (no config.json there); "
                         f"set it to {backend.base}")
    if backend.checkpoint and not (checkpoint and Path(checkpoint).is_file()):
        what = f": file '{checkpoint}' does not exist" if checkpoint else f" is required for model.backend={name}"
        raise ShardError(f"config key '{at}model.checkpoint'{what}; set it to {backend.checkpoint}")
    if not backend.checkpoint and checkpoint:
        readers = "/".join(b.name for b in BACKENDS.values() if b.checkpoint)
        raise ShardError(f"config key '{at}model.checkpoint' is read by the {readers} backend only; "
                         f"remove it for {name}")


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
