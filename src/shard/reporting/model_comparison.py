"""tables/models.*: the study's conditions with every model side by side, on the same items."""
from __future__ import annotations

from collections import defaultdict
from typing import Mapping, Sequence

import polars as pl

from shard.config import external_models
from shard.evaluation.conditions import with_task
from shard.reporting.evaluations import SEED_NOTE, Evaluations, load_predictions, models_of
from shard.reporting.provenance import publish_table
from shard.reporting.render import delta_cell, labelling_metric_name, p_cell, stats_cell
from shard.reporting.statistics import paired_change, shard_and_labelling, shard_and_labelling_columns


def models_stats(predictions: Mapping[str, Evaluations], conditions: Sequence[dict], config: dict) -> pl.DataFrame:
    """One row per (condition, model), conditions in table order: SHARD accuracy (overall) and labelling
    (caption protocol; controls are not labelled), and for every model after the first its SHARD change
    against the first model's same condition, McNemar paired on (seed, item): the same items, so the
    comparison is paired."""
    external = external_models(config)  # imported: only the conditions they have (SHARD items only)
    loaded = [(model, load_predictions(predictions["semantic"], model, conditions, model in external),
               load_predictions(predictions["labelling"], model, with_task(conditions, "labelling"), model in external))
              for model in models_of(predictions["semantic"])]
    _, first, _ = loaded[0]
    rows = []
    for cond in conditions:
        name = cond["name"]
        for i, (model, semantic, labelled) in enumerate(loaded):
            if name not in semantic:
                continue
            paired = paired_change(first[name], semantic[name], "correct") if i else {"delta": None, "p": None}
            rows.append({"condition": name, "model": model,
                         **shard_and_labelling_columns(*shard_and_labelling(semantic, labelled, name, config)),
                         "delta_vs_first": paired["delta"], "p_vs_first": paired["p"]})
    return pl.DataFrame(rows, infer_schema_length=None)


def models_display(numeric: pl.DataFrame) -> tuple[pl.DataFrame, str, list[str]]:
    """The table's cells (a column pair per model, then each later model's paired change), title and notes."""
    models = list(dict.fromkeys(numeric["model"]))
    metric = labelling_metric_name(numeric["labelling_metric"].drop_nulls())
    by = {(r["condition"], r["model"]): r for r in numeric.iter_rows(named=True)}
    names = list(dict.fromkeys(numeric["condition"]))
    columns: dict[str, list[str]] = {"Condition": names}
    missing = defaultdict(lambda: None)  # the cells of a condition a model lacks: –
    for model in models:  # a model of config external_models has only the conditions it was imported in
        columns[f"{model} SHARD"] = [stats_cell(by.get((n, model), missing), "semantic") for n in names]
        columns[f"{model} labelling"] = [stats_cell(by.get((n, model), missing), "labelling") for n in names]
    for model in models[1:]:
        columns[f"Δ SHARD {model} − {models[0]}"] = [delta_cell(by.get((n, model), missing)["delta_vs_first"])
                                                     for n in names]
        columns[f"p {model}"] = [p_cell(by.get((n, model), missing)["p_vs_first"]) for n in names]
    notes = [f"SHARD accuracy and labelling {metric} (caption protocol) in % with 95% bootstrap CI (clips resampled); "
             "every model answers the same items. Δ: a model's SHARD accuracy minus the first model's in the same "
             "condition, in points; exact McNemar p paired on (seed, item). –: not labelled (the controls are scored on SHARD "
             "only, the base model's blind on both).",
             SEED_NOTE]
    return pl.DataFrame(columns), "The study's conditions, model by model", notes


def models_table(*, predictions: Mapping[str, Evaluations], conditions: Sequence[dict], config: dict, **files) -> None:
    """tables/models.*: the study's conditions with every model side by side, on the same items (`files`:
    publish_table's)."""
    numeric = models_stats(predictions, list(conditions), config)
    publish_table(numeric, *models_display(numeric), predictions=predictions, config=config, **files)
