"""The statistics every table shares, on one condition's pooled predictions (shard.reporting.evaluations).

Accuracy comes from the per-item `correct` field: the summed log-prob choice in loglik mode (acc_norm stays
in the summaries), the strictly parsed answer in generate mode. Confidence intervals resample clips
(shard.evaluation.stats.bootstrap_ci); changes are paired on (replicate, item) with an exact McNemar test.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from shard.evaluation.stats import bootstrap_ci, bootstrap_metric, label_targets, map_chance, mcnemar, mean_average_precision

STAT_KEYS = ("acc", "lo", "hi", "sd", "n")
NO_BASELINE = {"delta": None, "p": None, "n_paired": None}


def accuracy(df: pl.DataFrame, column: str, config: dict, key: str) -> dict:
    """Accuracy over every replicate's answers, its 95% CI (clips resampled, each drawn clip keeping every
    replicate's answers: item sampling, not training noise), the sd of the per-replicate accuracies (training
    noise; None for one replicate) and the number of items."""
    correct = df[column].cast(pl.Float64).to_numpy() if df.height else np.zeros(0)
    lo, hi = bootstrap_ci(correct, df["clip_id"].to_numpy() if df.height else np.zeros(0),
                          config["evaluate"]["bootstrap"], config["seed"], key)
    per_replicate = df.group_by("replicate").agg(pl.col(column).cast(pl.Float64).mean())[column].to_numpy() \
        if df.height else []
    return {"acc": float(correct.mean()) if correct.size else float("nan"), "lo": lo, "hi": hi,
            "sd": float(np.std(per_replicate, ddof=1)) if len(per_replicate) > 1 else None,
            "n": df.height // max(1, df["replicate"].n_unique() if df.height else 1)}


def paired_change(base: pl.DataFrame | None, df: pl.DataFrame, column: str) -> dict:
    """Change and exact McNemar p against the baseline, on the (replicate, item) pairs both conditions answered:
    every replicate's pairs count (the test treats them as independent)."""
    if base is None:
        return NO_BASELINE
    joined = base.select("replicate", "item_id", pl.col(column).alias("a")).join(
        df.select("replicate", "item_id", pl.col(column).alias("b")), on=["replicate", "item_id"], how="inner")
    a, b = joined["a"].to_numpy().astype(bool), joined["b"].to_numpy().astype(bool)
    if not joined.height:
        return {"delta": None, "p": None, "n_paired": 0}
    return {"delta": float(b.mean() - a.mean()), "p": mcnemar(a, b), "n_paired": joined.height}


# ---------------------------------------------------------------- labelling: accuracy or mAP
def labelling_chance(df: pl.DataFrame) -> tuple[str, float | None]:
    """('acc', 1/n_labels) for a single-label corpus, ('map', mean label prevalence) for a multi-label one."""
    if not df.height:
        return "acc", None
    n_labels = len(df["option_scores"][0])
    if (df["gold_index"].list.len() > 1).any():
        return "map", map_chance(label_targets(df["gold_index"].to_list(), n_labels))
    return "acc", 1.0 / n_labels


def labelling_metric(df: pl.DataFrame, protocol: str, config: dict, key: str) -> dict:
    """Accuracy (single-label corpus) or mAP (multi-label) of one protocol: 'caption' or 'loglik'."""
    metric, level = labelling_chance(df)
    correct_col, scores_col = ("correct", "option_scores") if protocol == "caption" else ("correct_loglik", "loglik_scores")
    if metric == "acc":
        return {**accuracy(df, correct_col, config, key), "metric": "acc", "chance": level}
    scores = np.array(df[scores_col].to_list(), dtype=float)
    targets = label_targets(df["gold_index"].to_list(), scores.shape[1])
    lo, hi = bootstrap_metric(lambda idx: mean_average_precision(scores[idx], targets[idx]),
                              df["clip_id"].to_numpy(), config["evaluate"]["bootstrap"], config["seed"], key)
    replicate = df["replicate"].to_numpy()
    per_replicate = [mean_average_precision(scores[replicate == r], targets[replicate == r]) for r in np.unique(replicate)]
    return {"acc": mean_average_precision(scores, targets), "lo": lo, "hi": hi,
            "sd": float(np.std(per_replicate, ddof=1)) if len(per_replicate) > 1 else None,
            "n": df.height // len(per_replicate), "metric": "map", "chance": level}


# ---------------------------------------------------------------- reasoning against labelling
def shard_and_labelling(semantic: dict[str, pl.DataFrame], labelled: dict[str, pl.DataFrame], name: str,
                        config: dict) -> tuple[dict, dict]:
    """A condition's SHARD accuracy overall and its labelling by the caption protocol ({} where it is not
    labelled), under the semantic and labelling tables' bootstrap keys: every table and figure that sets
    reasoning against labelling gives the same numbers as those two tables."""
    shard = accuracy(semantic[name], "correct", config, f"semantic/{name}/overall")
    labelling = labelling_metric(labelled[name], "caption", config, f"labelling/{name}/caption") if name in labelled else {}
    return shard, labelling


def shard_and_labelling_columns(shard: dict, labelling: dict) -> dict:
    """shard_and_labelling's two results as columns: semantic_{acc,lo,hi,sd,n}, labelling_metric, labelling_*."""
    return {**{f"semantic_{k}": shard[k] for k in STAT_KEYS}, "labelling_metric": labelling.get("metric"),
            **{f"labelling_{k}": labelling.get(k) for k in STAT_KEYS}}
