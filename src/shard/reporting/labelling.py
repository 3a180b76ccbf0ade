"""tables/labelling.*: audio labelling by LTU's caption protocol and by constrained log-likelihood."""
from __future__ import annotations

from typing import Mapping, Sequence

import polars as pl

from shard.evaluation.conditions import BASELINE
from shard.reporting.evaluations import SEED_NOTE, Evaluations, per_model
from shard.reporting.provenance import publish_table
from shard.reporting.render import chance_or_stats_cell, delta_cell, labelling_metric_name, n_suffix, p_cell
from shard.reporting.statistics import labelling_chance, labelling_metric, paired_change

PROTOCOLS = {"caption": "Caption + embedding", "loglik": "Constrained log-lik"}


def labelling_stats(predictions: Mapping[str, dict[str, pl.DataFrame]], conditions: Sequence[dict],
                    config: dict) -> pl.DataFrame:
    by_name = predictions["labelling"]
    frames = list(by_name.values())
    base = by_name.get(BASELINE)
    rows = []
    for cond, df in by_name.items():
        row: dict = {"condition": cond}
        for proto in PROTOCOLS:
            scored = labelling_metric(df, proto, config, f"labelling/{cond}/{proto}")
            row.update({f"{proto}_{k}": scored[k] for k in ("metric", "acc", "lo", "hi", "sd", "n")})
            if cond == BASELINE or base is None:
                row.update({f"{proto}_delta_vs_{BASELINE}": None, f"{proto}_p_vs_{BASELINE}": None})
                continue
            if scored["metric"] == "acc":
                paired = paired_change(base, df, "correct" if proto == "caption" else "correct_loglik")
                row.update({f"{proto}_delta_vs_{BASELINE}": paired["delta"], f"{proto}_p_vs_{BASELINE}": paired["p"]})
            else:  # mAP is not a per-item score: change only, no McNemar
                ref = labelling_metric(base, proto, config, f"labelling/{BASELINE}/{proto}")
                row.update({f"{proto}_delta_vs_{BASELINE}": scored["acc"] - ref["acc"], f"{proto}_p_vs_{BASELINE}": None})
        rows.append(row)
    metric, level = labelling_chance(frames[0])
    rows.append({"condition": "chance", "caption_metric": metric, "caption_acc": level,
                 "loglik_metric": metric, "loglik_acc": level})
    return pl.DataFrame(rows, infer_schema_length=None)


def labelling_display(numeric: pl.DataFrame) -> tuple[pl.DataFrame, str, list[str]]:
    """The table's cells, title and notes."""
    metric = labelling_metric_name(numeric["caption_metric"])
    rows = list(numeric.iter_rows(named=True))
    display = pl.DataFrame({
        "Model": numeric["model"],
        "Condition": numeric["condition"],
        **{f"{name}{n_suffix(numeric, f'{proto}_n')}": [chance_or_stats_cell(r, proto) for r in rows]
           for proto, name in PROTOCOLS.items()},
        **{f"Δ {proto}": [delta_cell(r[f"{proto}_delta_vs_{BASELINE}"]) for r in rows] for proto in PROTOCOLS},
        **{f"p {proto}": [p_cell(r[f"{proto}_p_vs_{BASELINE}"]) for r in rows] for proto in PROTOCOLS},
    })
    notes = [f"Labelling {metric} in % with 95% bootstrap CI (clips resampled); Δ in points against "
             f"'{BASELINE}', exact McNemar p paired on items (accuracy only).",
             "Caption + embedding: LTU's protocol (all-MiniLM-L6-v2, 'sound of ...', nearest label); "
             "constrained: highest log-likelihood label name.",
             "Chance: 1/number of labels for accuracy; mean label prevalence for mAP.", SEED_NOTE]
    return display, f"Audio labelling {metric}", notes


def labelling_table(*, predictions: Mapping[str, Evaluations], conditions: Sequence[dict], config: dict, **files) -> None:
    """tables/labelling.*: audio labelling by LTU's caption protocol and by constrained log-likelihood
    (`files`: publish_table's)."""
    numeric = per_model(labelling_stats, predictions, conditions, config=config)
    publish_table(numeric, *labelling_display(numeric), predictions=predictions, config=config, **files)
