"""Statistics for the result tables: clip-level bootstrap CIs, paired McNemar tests, chance levels.

Items built from one clip are not independent (a model that cannot hear a clip fails all of its
questions), so the bootstrap resamples *clips* and carries every item of a drawn clip along.
"""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import numpy as np
from scipy.stats import binomtest

from shard.common import rng


DRAW_CELLS = 1 << 22  # drawn clip indices held at once (32 MB): a bootstrap's memory stays flat as the clips grow


def _clip_draws(groups: np.ndarray, n_boot: int, seed: int, key: str) -> tuple[np.ndarray, int, Iterator[np.ndarray]]:
    """(inverse, n_clips, draws): item -> clip index, the number of clips, and the (n_boot, n_clips) drawn clip
    indices in blocks of replicates (rows), never all at once (1000 x 600,000 test clips would be 4.8 GB). One
    generator draws the blocks in turn, which gives the very numbers one (n_boot, n_clips) draw gives."""
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    n_clips = int(inverse.max()) + 1 if inverse.size else 0
    g = rng(seed, "bootstrap", key)
    rows = max(1, DRAW_CELLS // max(n_clips, 1))
    return inverse, n_clips, (g.integers(0, n_clips, size=(min(rows, n_boot - i), n_clips)) for i in range(0, n_boot, rows))


def bootstrap_ci(correct: np.ndarray, groups: np.ndarray, n_boot: int = 1000, seed: int = 0,
                 key: str = "", level: float = 0.95) -> tuple[float, float]:
    """Percentile CI of the mean of `correct`, resampling the clips in `groups` with replacement.

    Each replicate draws as many clips as there are, and its accuracy is (correct items of the
    drawn clips) / (items of the drawn clips), so clips with more items weigh more, as they do in
    the point estimate. Seeded by (seed, "bootstrap", key): same inputs, same interval.
    """
    correct = np.asarray(correct, dtype=float)
    if correct.size == 0:
        return float("nan"), float("nan")
    inverse, _, draws = _clip_draws(groups, n_boot, seed, key)
    hits = np.bincount(inverse, weights=correct)
    sizes = np.bincount(inverse).astype(float)
    stats = np.concatenate([hits[block].sum(axis=1) / sizes[block].sum(axis=1) for block in draws])
    alpha = (1.0 - level) / 2
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def bootstrap_metric(metric: Callable[[np.ndarray], float], groups: np.ndarray, n_boot: int = 1000,
                     seed: int = 0, key: str = "", level: float = 0.95) -> tuple[float, float]:
    """Percentile CI of any item-level metric (e.g. mAP): `metric(item_indices) -> float` is
    evaluated on the items of each clip resample."""
    groups = np.asarray(groups)
    if groups.size == 0:
        return float("nan"), float("nan")
    inverse, n_clips, draws = _clip_draws(groups, n_boot, seed, key)
    order = np.argsort(inverse, kind="stable")
    starts = np.searchsorted(inverse[order], np.arange(n_clips + 1))
    members = [order[starts[c]:starts[c + 1]] for c in range(n_clips)]
    stats = np.array([metric(np.concatenate([members[c] for c in row])) for block in draws for row in block])
    stats = stats[~np.isnan(stats)]
    alpha = (1.0 - level) / 2
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def mcnemar(a_correct: np.ndarray, b_correct: np.ndarray) -> float:
    """Exact McNemar test for paired items: two-sided binomial test on the discordant pairs.

    Only items where exactly one condition is right carry information; under the null each of
    them is equally likely to favour either condition. No discordant pair -> p = 1.
    """
    a = np.asarray(a_correct, dtype=bool)
    b = np.asarray(b_correct, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in length: {a.shape} vs {b.shape}")
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    if only_a + only_b == 0:
        return 1.0
    return float(binomtest(only_a, only_a + only_b, 0.5, alternative="two-sided").pvalue)


def chance(n_options: Sequence[int] | np.ndarray) -> float:
    """Expected accuracy of uniform guessing over items with these option counts
    (0.5 for yes/no, 0.25 for 4-way multiple choice, the mean over a mixture)."""
    n = np.asarray(n_options, dtype=float)
    return float(np.mean(1.0 / n)) if n.size else float("nan")


def label_targets(gold_index: Sequence[Sequence[int]], n_labels: int) -> np.ndarray:
    """(n_items, n_labels) booleans: True where the label is one of the item's gold labels."""
    targets = np.zeros((len(gold_index), n_labels), dtype=bool)
    for i, gold in enumerate(gold_index):
        targets[i, list(gold)] = True
    return targets


def average_precision(scores: np.ndarray, positive: np.ndarray) -> float:
    """AP of one class (scikit-learn's): precision summed over the recall gained at each distinct score.

    Items with equal scores form one block (one threshold), so the result never depends on item order
    (the blind control gives every clip the same scores); nan for a class with no positive item."""
    from sklearn.metrics import average_precision_score

    positive = np.asarray(positive, dtype=bool)
    if not positive.any():
        return float("nan")
    return float(average_precision_score(positive, np.asarray(scores, dtype=float)))


def mean_average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """mAP over classes (AudioSet's metric): scores and targets are (n_items, n_classes);
    classes with no positive item are left out."""
    aps = [average_precision(scores[:, k], targets[:, k]) for k in range(scores.shape[1])]
    aps = [ap for ap in aps if not np.isnan(ap)]
    return float(np.mean(aps)) if aps else float("nan")


def map_chance(targets: np.ndarray) -> float:
    """Expected mAP of a random ranking: the mean prevalence of the classes that occur."""
    prevalence = np.asarray(targets, dtype=float).mean(axis=0)
    prevalence = prevalence[prevalence > 0]
    return float(prevalence.mean()) if prevalence.size else float("nan")
