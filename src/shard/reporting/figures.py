"""Figures on the reasoning-labelling plane: SHARD accuracy (x) against audio labelling (y).

figures/tradeoff.png (each model's scaling curve) is built here; figures/forgetting.png is drawn by the
forgetting table (shard.reporting.forgetting) with the same plane_figure.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from shard.common import atomic_path
from shard.evaluation.conditions import display_name, scaling_curve
from shard.evaluation.stats import chance
from shard.reporting.evaluations import Evaluations, load_predictions, models_of
from shard.reporting.statistics import shard_and_labelling


def plane_figure(png, points: Sequence[tuple[str, dict, dict]], *, metric: str, title: str,
                 lines: Sequence[tuple[str | None, Sequence[tuple[float, float]]]] = (), line_style: str = "--",
                 chance_levels: tuple[float | None, float | None] = (None, None), models: Sequence[str] | None = None) -> None:
    """One point per (label, semantic stats, labelling stats) with its CIs on both axes, lines (label, (x, y)
    points in %; e.g. one per model) and the chance levels (x, y). With `models` (each point's) naming several, a
    model is a colour and a condition a marker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "shard", "font.size": 9})
    fig, ax = plt.subplots(figsize=(5.5, 4.2), dpi=120)
    several = models is not None and len(set(models)) > 1
    order = list(dict.fromkeys(models)) if several else []
    for i, (label, shard, labelling) in enumerate(points):
        # several models: the model's colour, the marker of the condition's place among its model's points
        colour, marker = (order.index(models[i]), models[:i].count(models[i])) if several else (i, i)
        ax.errorbar(100 * shard["acc"], 100 * labelling["acc"],
                    xerr=[[100 * (shard["acc"] - shard["lo"])], [100 * (shard["hi"] - shard["acc"])]],
                    yerr=[[100 * (labelling["acc"] - labelling["lo"])], [100 * (labelling["hi"] - labelling["acc"])]],
                    fmt="os^vDP*X<>ph"[marker % 12], capsize=3, label=label, color=f"C{colour % 10}")
    for i, (label, line) in enumerate(lines):
        if len(line) > 1:
            ax.plot([p[0] for p in line], [p[1] for p in line], line_style, color=f"{0.5 - 0.2 * (i % 3):.1f}", lw=1.1,
                    zorder=0, label=label)
    if chance_levels[0] is not None:
        ax.axvline(100 * chance_levels[0], color="0.4", ls=":", lw=1, label="chance")
    if chance_levels[1] is not None:
        ax.axhline(100 * chance_levels[1], color="0.4", ls=":", lw=1)
    ax.set_xlabel("SHARD semantic accuracy (%)")
    ax.set_ylabel(f"Audio labelling {metric} (%)")
    ax.set_title(title)
    ax.legend(fontsize=8 if len(points) <= 8 else 6, loc="best")
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)


def tradeoff_figure(*, predictions: Mapping[str, Evaluations], conditions: Sequence[dict], png, config: dict) -> None:
    """figures/tradeoff.png: semantic accuracy (x) vs labelling accuracy (y), one point per (model, condition),
    each model's scaling curve (base at 0 prompts through each scale) as a line."""
    points, point_models, curves, shard_chance, labelling_chance, metric = [], [], [], None, None, "accuracy"
    models = models_of(predictions["semantic"])
    for model in models:
        semantic = load_predictions(predictions["semantic"], model, conditions)
        labelled = load_predictions(predictions["labelling"], model, conditions)
        xy = {}
        for name in semantic:
            shard, labelling = shard_and_labelling(semantic, labelled, name, config)
            shard_chance = shard_chance if shard_chance is not None else chance(semantic[name]["n_options"].to_numpy())
            labelling_chance = labelling_chance if labelling_chance is not None else labelling["chance"]
            metric = "mAP" if labelling["metric"] == "map" else metric
            points.append((display_name(model, name, len(models) > 1), shard, labelling))
            point_models.append(model)
            xy[name] = (100 * shard["acc"], 100 * labelling["acc"])
        curves.append((model if len(models) > 1 else None, [xy[c["name"]] for c, _ in scaling_curve(list(conditions))]))
    plane_figure(png, points, metric=metric, title="Reasoning vs labelling trade-off (95% CI, clips resampled)",
                 lines=curves, chance_levels=(shard_chance, labelling_chance), models=point_models)
