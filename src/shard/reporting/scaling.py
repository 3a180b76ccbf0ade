"""tables/scaling.*: reasoning against labelling along the training scales (the trade-off curve)."""
from __future__ import annotations

from typing import Mapping, Sequence

import polars as pl

from shard.evaluation.conditions import scaling_curve
from shard.reporting.evaluations import SEED_NOTE, Evaluations, per_model
from shard.reporting.provenance import publish_table
from shard.reporting.render import labelling_metric_name, stats_cell
from shard.reporting.statistics import shard_and_labelling, shard_and_labelling_columns


def scaling_stats(predictions: Mapping[str, dict[str, pl.DataFrame]], conditions: Sequence[dict],
                  config: dict) -> pl.DataFrame:
    """One row per point of the trade-off curve (shard.evaluation.conditions.scaling_curve)."""
    rows = []
    for cond, n_prompts in scaling_curve(list(conditions)):
        rows.append({"scale": cond["scale"] or "0", "n_prompts": n_prompts, "condition": cond["name"],
                     **shard_and_labelling_columns(*shard_and_labelling(predictions["semantic"], predictions["labelling"],
                                                                        cond["name"], config))})
    return pl.DataFrame(rows, infer_schema_length=None)


def scaling_display(numeric: pl.DataFrame) -> tuple[pl.DataFrame, str, list[str]]:
    """The table's cells, title and notes."""
    rows = list(numeric.iter_rows(named=True))
    display = pl.DataFrame({
        "Model": numeric["model"],
        "Training prompts": [f"{n:,}" for n in numeric["n_prompts"]],
        "Condition": numeric["condition"],
        "Semantic accuracy": [stats_cell(r, "semantic") for r in rows],
        f"Labelling {labelling_metric_name(numeric['labelling_metric'])}": [stats_cell(r, "labelling") for r in rows],
    })
    notes = ["In % with 95% bootstrap CI (clips resampled); interleaved prompts at test; "
             "labelling by LTU's caption + embedding protocol. 0 training prompts = the base model.", SEED_NOTE]
    return display, "Reasoning vs labelling by training scale", notes


def scaling_table(*, predictions: Mapping[str, Evaluations], conditions: Sequence[dict], config: dict, **files) -> None:
    """tables/scaling.*: one row per training scale (0 = the base model, interleaved prompts; `files`:
    publish_table's)."""
    numeric = per_model(scaling_stats, predictions, conditions, config=config)
    publish_table(numeric, *scaling_display(numeric), predictions=predictions, config=config, **files)
