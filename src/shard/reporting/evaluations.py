"""The evaluations a table reads, looked up by key, never by position.

A rule passes, per task, a mapping {(model, seed, condition): file} (rules/tables.smk), and the
conditions in table order. Every model is scored on the same items: a table has a row per (model,
condition), the models in the mapping's order, and pools each condition's seeds (replicates).
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import polars as pl

from shard.common import ShardError, read_jsonl
from shard.config import external_models
from shard.evaluation.conditions import with_task

Key = tuple[str, int, str]  # (model, seed, condition)
Evaluations = Mapping[Key, str]  # key -> an eval/{model}/seed{k}/{condition}/{task}.* file

SEED_NOTE = ("With several seeds (config `seeds`): accuracy over every seed's answers ± the sd of the per-seed "
             "accuracies; the CI resamples clips with every seed's answers; McNemar pairs are (seed, item).")


def models_of(evaluations: Evaluations) -> list[str]:
    """The models evaluated, in the mapping's order (config `models`)."""
    return list(dict.fromkeys(model for model, _, _ in evaluations))


def seeds_of(evaluations: Evaluations) -> list[int]:
    return list(dict.fromkeys(seed for _, seed, _ in evaluations))


def load_predictions(evaluations: Evaluations, model: str, conditions: Sequence[dict],
                     partial: bool = False) -> dict[str, pl.DataFrame]:
    """condition name -> `model`'s predictions in it, every seed's stacked with a `replicate` column (the
    seed's place in the mapping). The replicates share the items, so every statistic can pair them on
    (replicate, item). `partial` (a model of config `external_models`): only the conditions and seeds it has."""
    seeds = seeds_of(evaluations)
    if partial:
        conditions = [c for c in conditions if any((model, seed, c["name"]) in evaluations for seed in seeds)]
        seeds = [seed for seed in seeds if any((model, seed, c["name"]) in evaluations for c in conditions)]
    missing = [(model, seed, c["name"]) for c in conditions for seed in seeds if (model, seed, c["name"]) not in evaluations]
    if missing:
        raise ShardError(f"no predictions for (model, seed, condition) {missing[:3]}: every model is scored on the "
                         "same conditions and seeds")
    return {c["name"]: pl.concat([read_jsonl(evaluations[model, seed, c["name"]]).with_columns(pl.lit(r).alias("replicate"))
                                  for r, seed in enumerate(seeds)], how="diagonal_relaxed")
            for c in conditions}


def every_file(evaluations: Mapping[str, Evaluations]) -> list[str]:
    """Every file of a {task: evaluations} mapping (provenance hashes them)."""
    return [path for by_key in evaluations.values() for path in by_key.values()]


def per_model(stats: Callable[..., pl.DataFrame], predictions: Mapping[str, Evaluations], conditions: Sequence[dict],
              **kwargs) -> pl.DataFrame:
    """`stats(model's predictions per task, conditions, **kwargs)` for each model, stacked under a leading `model`
    column; a `chance` row, the same for every model (same items), once at the end."""
    first = next(iter(predictions.values()))
    external = external_models(kwargs["config"]) if "config" in kwargs else {}
    frames = []
    for model in models_of(first):
        loaded = {task: load_predictions(by_key, model, with_task(conditions, task), model in external)
                  for task, by_key in predictions.items()}
        frame = stats(loaded, conditions, **kwargs)
        if frame.height or model not in external:  # an external model may have no row (perception: no audio answers)
            frames.append(frame.select(pl.lit(model).alias("model"), pl.all()))
    table = pl.concat(frames, how="diagonal_relaxed")
    if "chance" not in table["condition"].to_list():
        return table
    is_chance = pl.col("condition") == "chance"
    return pl.concat([table.filter(~is_chance), table.filter(is_chance).head(1).with_columns(model=pl.lit(""))])


def several_models(numeric: pl.DataFrame) -> bool:
    return numeric.filter(pl.col("model") != "")["model"].n_unique() > 1
