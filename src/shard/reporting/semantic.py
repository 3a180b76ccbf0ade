"""tables/semantic.*: SHARD accuracy per relation and overall, by condition."""
from __future__ import annotations

from typing import Mapping, Sequence

import polars as pl

from shard.evaluation.conditions import BASELINE
from shard.evaluation.stats import chance
from shard.reporting.evaluations import SEED_NOTE, Evaluations, per_model
from shard.reporting.provenance import publish_table
from shard.dataset.relations import ordered_relations, relation_title
from shard.reporting.render import chance_or_stats_cell, delta_cell, n_suffix, p_cell
from shard.reporting.statistics import NO_BASELINE, accuracy, paired_change


def semantic_stats(predictions: Mapping[str, dict[str, pl.DataFrame]], conditions: Sequence[dict],
                   config: dict) -> pl.DataFrame:
    """One row per condition of one model (plus a chance row): accuracy, CI and n per relation and overall,
    change and McNemar p against `original`."""
    by_name = predictions["semantic"]
    frames = list(by_name.values())
    relations = ordered_relations(r for df in frames for r in df["relation"].drop_nulls().unique().to_list())
    base = by_name.get(BASELINE)
    rows = []
    for cond, df in by_name.items():
        row: dict = {"condition": cond}
        for rel in [*relations, "overall"]:
            part = df if rel == "overall" else df.filter(pl.col("relation") == rel)
            for k, v in accuracy(part, "correct", config, f"semantic/{cond}/{rel}").items():
                row[f"{rel}_{k}"] = v
        paired = paired_change(base, df, "correct") if cond != BASELINE else NO_BASELINE
        row.update({f"{k}_vs_{BASELINE}": v for k, v in paired.items()})
        rows.append(row)
    ref = frames[0]
    chance_row: dict = {"condition": "chance"}
    for rel in [*relations, "overall"]:
        part = ref if rel == "overall" else ref.filter(pl.col("relation") == rel)
        chance_row[f"{rel}_acc"] = chance(part["n_options"].to_numpy()) if part.height else None
    rows.append(chance_row)
    return pl.DataFrame(rows, infer_schema_length=None)


def table_relations(numeric: pl.DataFrame) -> list[str]:
    """The relation columns of a semantic table's numbers, in order."""
    return [c.removesuffix("_acc") for c in numeric.columns if c.endswith("_acc") and c != "overall_acc"]


def semantic_display(numeric: pl.DataFrame) -> tuple[pl.DataFrame, str, list[str]]:
    """The table's cells, title and notes."""
    rows = list(numeric.iter_rows(named=True))
    display = pl.DataFrame({
        "Model": numeric["model"],
        "Condition": numeric["condition"],
        **{f"{relation_title(rel)}{n_suffix(numeric, f'{rel}_n')}": [chance_or_stats_cell(r, rel) for r in rows]
           for rel in [*table_relations(numeric), "overall"]},
        f"Δ vs {BASELINE}": [delta_cell(d) for d in numeric[f"delta_vs_{BASELINE}"]],
        "p (McNemar)": [p_cell(p) for p in numeric[f"p_vs_{BASELINE}"]],
    })
    notes = ["Accuracy in % with 95% bootstrap CI (clips resampled); Δ in points against "
             f"'{BASELINE}', exact McNemar p paired on items.",
             "Chance: 50% for yes/no, 25% for 4-way multiple choice; the chance row averages over the items of each column.",
             SEED_NOTE]
    return display, "SHARD semantic reasoning accuracy", notes


def semantic_table(*, predictions: Mapping[str, Evaluations], conditions: Sequence[dict], config: dict, **files) -> None:
    """tables/semantic.*: SHARD accuracy per relation and overall, by condition (`files`: publish_table's)."""
    numeric = per_model(semantic_stats, predictions, conditions, config=config)
    publish_table(numeric, *semantic_display(numeric), predictions=predictions, config=config, **files)
