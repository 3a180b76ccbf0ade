"""tables/perception.*: does reasoning fail, or perception, or their integration?"""
from __future__ import annotations

from typing import Mapping, Sequence

import polars as pl

from shard.evaluation.conditions import controls
from shard.evaluation.stats import bootstrap_ci
from shard.reporting.evaluations import Evaluations, per_model
from shard.reporting.provenance import publish_table
from shard.reporting.render import NA, gap_cell, pct, stats_cell
from shard.reporting.statistics import accuracy


def perception_stats(predictions: Mapping[str, dict[str, pl.DataFrame]], conditions: Sequence[dict],
                     config: dict) -> pl.DataFrame:
    """One row per condition that hears the clips: SHARD accuracy on every item and on the items whose clip
    the same condition labels correctly (LTU's caption protocol), the same model's blind and text-oracle
    accuracy, and the integration gap: text oracle minus audio on the correctly perceived items, paired by
    item (CI: clips resampled)."""
    semantic, labelled = predictions["semantic"], predictions["labelling"]
    external = not labelled  # a model with no labelling answers: imported (config external_models)
    blind, oracle = controls(list(conditions), "silence"), controls(list(conditions), "label")
    rows = []
    for cond in conditions:
        name = cond["name"]
        # a model imported from lmms-eval (config external_models) answers SHARD items only: no labelling
        if cond["audio"] != "clip" or name not in semantic or (name not in labelled and not external):
            continue
        df = semantic[name]
        row = {"condition": name, "labelling_acc": None, "clips_perceived": None, "clips": None}
        seen = df.clear()
        if name in labelled:
            lab = labelled[name]
            # perception is per replicate: a seed's items count where that seed labels their clip right
            perceived = lab.filter(pl.col("correct")).select("replicate", "clip_id")
            seen = df.join(perceived, on=["replicate", "clip_id"], how="semi")
            row.update(labelling_acc=float(lab["correct"].mean()) if lab.height else None,
                       clips_perceived=perceived.height, clips=lab.height)
        for prefix, part in (("all", df), ("perceived", seen)):
            row.update({f"{prefix}_{k}": v for k, v in accuracy(part, "correct", config, f"perception/{name}/{prefix}").items()})
        for prefix, control in (("blind", blind.get(cond["run"])), ("oracle", oracle.get(cond["run"]))):
            control = control if control and control["name"] in semantic else None
            stats = (accuracy(semantic[control["name"]], "correct", config, f"perception/{name}/{prefix}") if control
                     else {"acc": None, "lo": None, "hi": None, "n": 0})
            row.update({f"{prefix}_condition": control["name"] if control else None,
                        **{f"{prefix}_{k}": v for k, v in stats.items()}})
        gap = {"gap": None, "gap_lo": None, "gap_hi": None}
        control = oracle.get(cond["run"])
        if control and control["name"] in semantic and seen.height:
            paired = seen.select("replicate", "item_id", "clip_id", pl.col("correct").alias("audio")).join(
                semantic[control["name"]].select("replicate", "item_id", pl.col("correct").alias("text")),
                on=["replicate", "item_id"])
            diff = paired["text"].cast(pl.Float64).to_numpy() - paired["audio"].cast(pl.Float64).to_numpy()
            lo, hi = bootstrap_ci(diff, paired["clip_id"].to_numpy(), config["evaluate"]["bootstrap"], config["seed"],
                                  f"perception/{name}/gap")
            gap = {"gap": float(diff.mean()), "gap_lo": lo, "gap_hi": hi}
        rows.append({**row, **gap})
    return pl.DataFrame(rows, infer_schema_length=None)


def perception_display(numeric: pl.DataFrame) -> tuple[pl.DataFrame, str, list[str]]:
    """The table's cells, title and notes."""
    rows = list(numeric.iter_rows(named=True))
    display = pl.DataFrame({
        "Model": numeric["model"],
        "Condition": numeric["condition"],
        "Clips labelled right": [f"{r['clips_perceived']}/{r['clips']} ({pct(r['labelling_acc'])}%)"
                                 if r["clips"] is not None else NA for r in rows],
        "SHARD, all items": [stats_cell(r, "all") for r in rows],
        "SHARD, clip labelled right": [stats_cell(r, "perceived") for r in rows],
        "Blind": [stats_cell(r, "blind") for r in rows],
        "Text oracle": [stats_cell(r, "oracle") for r in rows],
        "Integration gap": [gap_cell(r["gap"], r["gap_lo"], r["gap_hi"]) for r in rows],
    })
    notes = ["SHARD accuracy in % with 95% bootstrap CI (clips resampled; ± sd over seeds when there are several). "
             "Clip labelled right: the same condition names the clip's label (caption protocol; counts summed over seeds). Blind: the same model with every clip silenced. Text oracle: "
             "the same model with each clip's label written in its place (no audio).",
             "Integration gap: text oracle minus audio on the items whose clip is labelled right, paired by item, "
             "in points; > 0: the model reasons better from the label as text than from audio it did perceive."]
    if numeric["clips"].null_count():
        notes.append("Clips labelled right –: a model imported from lmms-eval / lm-eval (config external_models), "
                     "scored on SHARD items only; its text oracle is lm-eval's shard_text_oracle task.")
    return display, "Perception, reasoning and their integration", notes


def perception_table(*, predictions: Mapping[str, Evaluations], conditions: Sequence[dict], config: dict, **files) -> None:
    """tables/perception.*: does reasoning fail, or perception, or their integration? (`files`: publish_table's)"""
    numeric = per_model(perception_stats, predictions, conditions, config=config)
    publish_table(numeric, *perception_display(numeric), predictions=predictions, config=config, **files)
