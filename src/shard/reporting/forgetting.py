"""tables/forgetting.* and figures/forgetting.png: can replay or a curriculum keep labelling while reasoning
improves?"""
from __future__ import annotations

from typing import Mapping, Sequence

import polars as pl

from shard.evaluation.conditions import display_name, interleaved_with_audio
from shard.reporting.evaluations import SEED_NOTE, Evaluations, per_model, several_models
from shard.reporting.figures import plane_figure
from shard.reporting.provenance import publish_table
from shard.reporting.render import labelling_metric_name, stats_cell
from shard.reporting.statistics import shard_and_labelling, shard_and_labelling_columns


def pareto_front(x: Sequence[float], y: Sequence[float]) -> list[bool]:
    """True where no other point is at least as good on both axes and better on one."""
    return [not any((x2 >= x1 and y2 >= y1) and (x2 > x1 or y2 > y1) for x2, y2 in zip(x, y))
            for x1, y1 in zip(x, y)]


def forgetting_stats(predictions: Mapping[str, dict[str, pl.DataFrame]], conditions: Sequence[dict],
                     config: dict) -> pl.DataFrame:
    """One row per model that hears the clips (the base model and every fine-tuning run: scale x replay
    fraction x order), SHARD and labelling accuracy with CIs, and whether it is on the Pareto front."""
    rows = []
    for cond in sorted(interleaved_with_audio(list(conditions)), key=lambda c: (c["n_prompts"], c["replay"], c["order"] or "")):
        rows.append({"condition": cond["name"], "n_prompts": cond["n_prompts"], "replay": cond["replay"],
                     "order": cond["order"] or "–",
                     **shard_and_labelling_columns(*shard_and_labelling(predictions["semantic"], predictions["labelling"],
                                                                        cond["name"], config))})
    df = pl.DataFrame(rows, infer_schema_length=None)
    return df.with_columns(pl.Series("pareto", pareto_front(df["semantic_acc"].to_list(), df["labelling_acc"].to_list())))


def forgetting_display(numeric: pl.DataFrame) -> tuple[pl.DataFrame, str, list[str]]:
    """The table's cells, title and notes."""
    rows = list(numeric.iter_rows(named=True))
    display = pl.DataFrame({
        "Model": numeric["model"],
        "Training prompts": [f"{r['n_prompts']:,}" for r in rows],
        "Replay": [f"{100 * r['replay']:.0f}%" for r in rows],
        "Order": numeric["order"],
        "Condition": numeric["condition"],
        "Semantic accuracy": [stats_cell(r, "semantic") for r in rows],
        f"Labelling {labelling_metric_name(numeric['labelling_metric'])}": [stats_cell(r, "labelling") for r in rows],
        "Pareto": ["yes" if r["pareto"] else "" for r in rows],
    })
    notes = ["In % with 95% bootstrap CI (clips resampled); interleaved prompts at test; labelling by LTU's caption "
             "protocol. Replay: share of labelling prompts in the training prompts; order: mixed, or curriculum "
             "(the labelling prompts first). Pareto: no other run of the same model is at least as good on both and better on one "
             "(point estimates).", SEED_NOTE]
    return display, "Forgetting: reasoning vs labelling by training recipe", notes


def forgetting_figure(numeric: pl.DataFrame, png) -> None:
    """figures/forgetting.png: every run of every model on the plane, each model's Pareto front as a line."""
    rows = list(numeric.iter_rows(named=True))
    interval = lambda r, task: {k: r[f"{task}_{k}"] for k in ("acc", "lo", "hi")}  # noqa: E731
    several = several_models(numeric)
    fronts = [(f"Pareto front ({model})" if several else "Pareto front",
               sorted((100 * r["semantic_acc"], 100 * r["labelling_acc"]) for r in rows if r["pareto"] and r["model"] == model))
              for model in dict.fromkeys(numeric["model"])]
    plane_figure(png, [(display_name(r["model"], r["condition"], several), interval(r, "semantic"), interval(r, "labelling"))
                       for r in rows],
                 metric=labelling_metric_name(numeric["labelling_metric"]),
                 title="Forgetting by training recipe (95% CI, clips resampled)", line_style="-",
                 lines=fronts, models=[r["model"] for r in rows])


def forgetting_table(*, predictions: Mapping[str, Evaluations], conditions: Sequence[dict], config: dict, png,
                     **files) -> None:
    """tables/forgetting.* and figures/forgetting.png: can replay or a curriculum keep labelling while
    reasoning improves? (`files`: publish_table's)"""
    numeric = per_model(forgetting_stats, predictions, conditions, config=config)
    publish_table(numeric, *forgetting_display(numeric), predictions=predictions, config=config, **files)
    forgetting_figure(numeric, png)
