import math

import numpy as np
import pytest

from shard.evaluation.stats import (average_precision, bootstrap_ci, bootstrap_metric, chance, map_chance, mcnemar,
                         mean_average_precision)


def test_bootstrap_all_correct_and_all_wrong():
    groups = np.repeat(np.arange(5), 3)
    assert bootstrap_ci(np.ones(15), groups, 200, seed=0) == (1.0, 1.0)
    assert bootstrap_ci(np.zeros(15), groups, 200, seed=0) == (0.0, 0.0)


def test_bootstrap_resamples_clips_not_items():
    # 10 clips x 10 items; a clip is heard or not, so its items are all right or all wrong.
    groups = np.repeat(np.arange(10), 10)
    correct = (groups < 5).astype(float)
    clip_lo, clip_hi = bootstrap_ci(correct, groups, 2000, seed=1)
    item_lo, item_hi = bootstrap_ci(correct, np.arange(100), 2000, seed=1)
    assert clip_lo < 0.5 < clip_hi and item_lo < 0.5 < item_hi
    # 10 independent units vs 100: the clip-level interval is about sqrt(10) times wider
    assert (clip_hi - clip_lo) > 2 * (item_hi - item_lo)
    # a clip-level resample of 10 whole clips can only hit multiples of 1/10
    assert math.isclose(clip_lo * 10, round(clip_lo * 10)) and math.isclose(clip_hi * 10, round(clip_hi * 10))


def test_bootstrap_is_seeded():
    groups = np.repeat(np.arange(20), 2)
    correct = np.random.default_rng(0).integers(0, 2, 40).astype(float)
    assert bootstrap_ci(correct, groups, 300, seed=3) == bootstrap_ci(correct, groups, 300, seed=3)
    assert bootstrap_ci(correct, groups, 300, seed=3, key="a") != bootstrap_ci(correct, groups, 300, seed=3, key="b")


def test_bootstrap_metric_matches_bootstrap_ci_for_the_mean():
    groups = np.repeat(np.arange(8), [1, 2, 3, 1, 2, 3, 1, 2])
    correct = np.random.default_rng(2).integers(0, 2, groups.size).astype(float)
    generic = bootstrap_metric(lambda idx: correct[idx].mean(), groups, 300, seed=5)
    assert np.allclose(generic, bootstrap_ci(correct, groups, 300, seed=5))


def test_mcnemar_known_table():
    # 10 both right, 1 only A right, 6 only B right, 3 both wrong
    a = np.array([1] * 10 + [1] + [0] * 6 + [0] * 3, dtype=bool)
    b = np.array([1] * 10 + [0] + [1] * 6 + [0] * 3, dtype=bool)
    # two-sided exact binomial on 7 discordant pairs: 2 * (C(7,0) + C(7,1)) / 2^7 = 16/128
    assert mcnemar(a, b) == pytest.approx(0.125)
    assert mcnemar(b, a) == pytest.approx(0.125)
    assert mcnemar(a, a) == 1.0
    with pytest.raises(ValueError):
        mcnemar(a, b[:-1])


def test_chance_levels():
    assert chance([2, 2]) == 0.5
    assert chance([4]) == 0.25
    assert chance([2, 4]) == pytest.approx(0.375)


def test_average_precision_ties_do_not_depend_on_order():
    # all scores tied: AP is the prevalence, whichever way the items are ordered
    for positive in ([1, 0, 0, 1], [0, 1, 1, 0], [1, 1, 0, 0]):
        assert average_precision(np.zeros(4), np.array(positive)) == pytest.approx(0.5)
    # a tied block in the middle counts as one threshold: P@1 = 1, then the block {0.5, 0.5} holds one hit
    assert average_precision(np.array([0.9, 0.5, 0.5]), np.array([1, 0, 1])) == \
        average_precision(np.array([0.9, 0.5, 0.5]), np.array([1, 1, 0])) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_average_precision_known_ranking():
    # positives at ranks 1 and 3: (1/1 + 2/3) / 2
    assert average_precision(np.array([0.9, 0.8, 0.7]), np.array([1, 0, 1])) == pytest.approx(5 / 6)
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.6]])
    targets = np.array([[1, 0], [0, 1], [1, 1]], dtype=bool)
    assert mean_average_precision(scores, targets) == pytest.approx(1.0)
    assert map_chance(targets) == pytest.approx(2 / 3)


def test_bootstrap_draws_in_blocks_give_the_one_shot_interval(monkeypatch):
    """The resamples are drawn a block of replicates at a time (memory flat in the clips); any block size
    gives the interval one (n_boot, n_clips) draw gives, to the bit."""
    from shard.evaluation import stats

    g = np.random.default_rng(3)
    groups = g.integers(0, 997, 3000)
    correct = (g.random(groups.size) < 0.4).astype(float)
    whole = stats.bootstrap_ci(correct, groups, 1000, 0, "blocks")
    for cells in (997, 997 * 7, 10**9):  # one replicate per block, seven, all at once
        monkeypatch.setattr(stats, "DRAW_CELLS", cells)
        assert stats.bootstrap_ci(correct, groups, 1000, 0, "blocks") == whole
    monkeypatch.setattr(stats, "DRAW_CELLS", 997 * 7)
    small = stats.bootstrap_metric(lambda idx: correct[idx].mean(), groups, 50, 0, "m")
    monkeypatch.setattr(stats, "DRAW_CELLS", 10**9)
    assert stats.bootstrap_metric(lambda idx: correct[idx].mean(), groups, 50, 0, "m") == small
