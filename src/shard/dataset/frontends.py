"""The audio front ends, one record each: what the features rule computes once per clip.

    FRONTENDS[name].compute()(batch float32 (B, samples), params, sample_rate) -> float32 (B, bins, frames)

A new front end is one `FrontEnd` line in FRONTENDS: the config schema takes its name in features.frontends and
model.frontend, the features rule computes it, and the backends that read any shared front end (mini_ltu) train
on it. Light on purpose (no numpy, torch or librosa here): the Snakefile reads it when it validates the config.
"""
from __future__ import annotations

import pkgutil
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class FrontEnd:
    """One front end: its function, imported when features are computed, and where its settings come from.

    A shared front end's features are computed once per clip for every model that reads them
    (features/{name}.json and its shards), with the config's `features.{name}` section as params. A per-model front end is a
    model's own feature extractor: each model gets its own features (features/{name}_{model}.json), and its
    params name the model's folder (`model`: model.base).
    """
    name: str
    function: str  # "module:function", (batch, params, sample_rate) -> features; imported only when called
    per_model: bool = False
    # the JSON Schema of its config section features.{name}, for a front end with settings that
    # config.schema.yaml does not list (logmel's and ltu_fbank's are there, with their descriptions)
    settings: dict | None = field(default=None, compare=False)

    def compute(self) -> Callable:
        return pkgutil.resolve_name(self.function)

    def feature_set(self, model: str) -> str:
        """The name of the features file `model` reads, under results/features/."""
        return f"{self.name}_{model}" if self.per_model else self.name

    def params(self, features_cfg: dict, model_cfg: dict | None = None) -> dict:
        """The params the features rule passes to the function: the config's features.{name} section, and for a
        per-model front end the folder of the model (`model_cfg`, its `model` section) whose extractor it is."""
        own = {"model": model_cfg["base"]} if self.per_model else {}
        return {**features_cfg.get(self.name, {}), **own}


FRONTENDS: dict[str, FrontEnd] = {f.name: f for f in (
    FrontEnd("logmel", "shard.dataset.features:logmel"),
    FrontEnd("ltu_fbank", "shard.dataset.features:ltu_fbank"),
    FrontEnd("hf", "shard.models.hf:hf_features", per_model=True),
)}


def shared_frontends() -> tuple[str, ...]:
    """The front ends every model may share (not a model's own extractor)."""
    return tuple(name for name, f in FRONTENDS.items() if not f.per_model)


def feature_sets(models: dict[str, dict]) -> dict[str, tuple[FrontEnd, str | None]]:
    """Every features file the workflow may build for these models (config.study_models: name -> sections) ->
    (its front end, the model whose own front end it is, or None for a shared one)."""
    sets = {name: (FRONTENDS[name], None) for name in shared_frontends()}
    sets.update({f.feature_set(m): (f, m) for f in FRONTENDS.values() if f.per_model for m in models})
    return sets


def model_feature_set(model: str, sections: dict) -> str:
    """The features file one model (its config.study_models sections) reads."""
    return FRONTENDS[sections["model"]["frontend"]].feature_set(model)
