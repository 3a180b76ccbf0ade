"""Surface-cue baselines (tables/artifacts.*) on tiny hand-built item sets whose answers are known."""
import json

import numpy as np
import polars as pl
import pytest

from shard.dataset import artifacts as A
from shard.dataset import surface
from shard.dataset.items import ITEM_SCHEMA

CONFIG = {"seed": 0, "evaluate": {"bootstrap": 200}}
MC, YN = "hypernym.source.mc4.0", "hypernym.source.yesno.0"
LONG_COMMON = ["international", "information", "development", "government", "environment", "university"]
SHORT_RARE = ["xzq", "qwv", "jxq", "vkz", "xqj", "zqv", "wxq", "qzk", "kxz"]  # Zipf 0, three letters
SIMILAR = {"sound", "noise"}  # what the fake embedder puts next to every question


def fake_embed(texts):
    """Unit vectors: every question stem and every SIMILAR word on one axis, other words on another,
    so a SIMILAR option has similarity 1 to the question and any other 0."""
    out = np.zeros((len(texts), 3))
    for i, t in enumerate(texts):
        out[i, 0 if (t in SIMILAR or "<audio>" in t) else 1 + len(t) % 2] = 1.0
    return out


def items(rows) -> pl.DataFrame:
    """Item rows from (clip, format, options or candidate, answer) tuples, in shard.dataset.items' schema."""
    out = []
    for i, (clip, fmt, words, answer) in enumerate(rows):
        if fmt == "mc4":
            options, candidate, index = list(words), answer, list(words).index(answer)
        else:
            options, candidate, index = ["yes", "no"], words, 0 if answer == "yes" else 1
        out.append({"item_id": f"{clip}.{i:03d}", "clip_id": clip, "label": "L", "synset": "dog.n.01",
                    "relation": "hypernym" if i % 2 else "synonym", "format": fmt,
                    "template_id": MC if fmt == "mc4" else YN, "question": "q <audio>", "options": options,
                    "answer": options[index], "answer_index": index, "candidate": candidate, "source_kind": "source"})
    return pl.DataFrame(out, schema=ITEM_SCHEMA)


def _mc(answer_first: bool, n: int = 12) -> pl.DataFrame:
    """mc4 items whose answer is a long common word among three short rare ones (or the reverse)."""
    rows = []
    for i in range(n):
        rare = [SHORT_RARE[(i + j) % len(SHORT_RARE)] for j in range(3)]
        common = LONG_COMMON[i % len(LONG_COMMON)]
        words = [common, *rare] if answer_first else [rare[0], common, rare[1], rare[2]]
        rows.append((f"c{i // 2}", "mc4", words[i % 4:] + words[:i % 4], common if answer_first else rare[0]))
    return items(rows)


def _credit(name, fmt, df):
    return A.rule_baseline(name, fmt, df, A.option_features(df, fake_embed))


def test_rule_baselines_score_what_the_items_give_away():
    right_is_long_and_common = _mc(answer_first=True)
    assert _credit("most_frequent", "mc4", right_is_long_and_common).mean() == 1.0
    assert _credit("longest", "mc4", right_is_long_and_common).mean() == 1.0
    right_is_short_and_rare = _mc(answer_first=False)
    assert _credit("most_frequent", "mc4", right_is_short_and_rare).mean() == 0.0
    assert _credit("longest", "mc4", right_is_short_and_rare).mean() == 0.0
    # ties are split: four options of one length give each a quarter of a point
    tied = items([("c0", "mc4", ["xzq", "qwv", "jxq", "vkz"], "qwv")])
    assert _credit("longest", "mc4", tied).tolist() == [0.25]
    # the option most similar to the question
    similar = items([(f"c{i}", "mc4", ["xzq", "noise", "qwv", "jxq"], "noise") for i in range(4)])
    assert _credit("most_similar", "mc4", similar).mean() == 1.0


def test_yes_no_baselines():
    # yes for long common candidates, no for short rare ones: the median rule gets every item
    rows = [(f"c{i}", "yesno", LONG_COMMON[i % 6], "yes") for i in range(6)]
    rows += [(f"c{i}", "yesno", SHORT_RARE[i], "no") for i in range(6)]
    df = items(rows)
    assert _credit("always_yes", "yesno", df).mean() == 0.5
    assert _credit("most_frequent", "yesno", df).mean() == 1.0
    assert _credit("longest", "yesno", df).mean() == 1.0
    flipped = df.with_columns(answer=pl.when(pl.col("answer") == "yes").then(pl.lit("no")).otherwise(pl.lit("yes")))
    assert _credit("most_frequent", "yesno", flipped).mean() == 0.0


def test_logistic_regression_finds_a_planted_cue_and_nothing_else():
    g = np.random.default_rng(0)
    rows = []
    for i in range(60):  # mc4: the answer is always the long common word, in a random position
        words = [LONG_COMMON[i % 6], *g.choice(SHORT_RARE, 3, replace=False)]
        order = g.permutation(4)
        rows.append((f"c{i // 2}", "mc4", [words[j] for j in order], words[0]))
    cue = items(rows)
    assert A.logistic_baseline("mc4", cue, A.option_features(cue, fake_embed), 0).mean() > 0.9
    rows = [(f"c{i // 2}", "yesno", LONG_COMMON[i % 6] if i % 2 else SHORT_RARE[i % 9], "yes" if i % 2 else "no")
            for i in range(60)]
    cue = items(rows)
    assert A.logistic_baseline("yesno", cue, A.option_features(cue, fake_embed), 0).mean() > 0.9
    # no cue: the answer is the long word or any short one, at random
    rows = []
    for i in range(120):
        words = [LONG_COMMON[i % 6], *g.choice(SHORT_RARE, 3, replace=False)]
        rows.append((f"c{i // 2}", "mc4", words, words[int(g.integers(4))]))
    none = items(rows)
    assert abs(A.logistic_baseline("mc4", none, A.option_features(none, fake_embed), 0).mean() - 0.25) < 0.1


@pytest.mark.parametrize("stratified", [False, True])
def test_cross_validation_is_grouped_by_clip(stratified):
    clips = np.repeat([f"c{i:02d}" for i in range(23)], 3)
    strata = np.random.default_rng(1).normal(size=(clips.size, 4)) if stratified else None
    folds = A.group_folds(clips, 5, 0, strata)
    for clip in set(clips):
        assert len(set(folds[clips == clip])) == 1  # no clip in two folds
    per_fold = np.bincount([folds[clips == c][0] for c in sorted(set(clips))], minlength=5)
    assert per_fold.max() - per_fold.min() <= 1
    assert (A.group_folds(clips, 5, 0, strata) == folds).all() and not (A.group_folds(clips, 5, 1, strata) == folds).all()


def test_logistic_regression_scores_each_clip_with_a_model_that_never_saw_it(monkeypatch):
    """Every item is scored by the fit of the folds that do not hold its clip."""
    df = _mc(answer_first=True, n=40)
    fits = []
    real_fit = A._fit
    monkeypatch.setattr(A, "_fit", lambda design, target: fits.append(len(design)) or real_fit(design, target))
    folds = {}
    real_folds = A.group_folds
    monkeypatch.setattr(A, "group_folds", lambda *a: folds.setdefault("f", real_folds(*a)))
    A.logistic_baseline("mc4", df, A.option_features(df, fake_embed), 0)
    f, clips = folds["f"], df["clip_id"].to_numpy()
    assert len(fits) == A.FOLDS and fits == [int((f != k).sum()) for k in range(A.FOLDS)]
    assert all(len(set(f[clips == c])) == 1 for c in set(clips))


def _table(tmp_path, df, monkeypatch):
    monkeypatch.setattr(surface, "exact_embedder", lambda: fake_embed)
    tmp_path.mkdir()
    monkeypatch.chdir(tmp_path)
    df.write_parquet("test.parquet")
    (tmp_path / "source.json").write_text(json.dumps({"checksum": "abc123", "version": "3.0"}))
    A.artifacts_table(test="test.parquet", csv="out/artifacts.csv", md="out/artifacts.md",
                      provenance="out/artifacts.provenance.json", config=CONFIG, wordnet_source="source.json")
    return {p.name: p.read_bytes() for p in sorted((tmp_path / "out").iterdir())}


def test_table_rows_chance_and_bytes(tmp_path, monkeypatch):
    df = pl.concat([_mc(answer_first=True), items([(f"c{i}", "yesno", LONG_COMMON[i % 6], "yes") for i in range(6)]
                                                   + [(f"c{i}", "yesno", SHORT_RARE[i], "no") for i in range(6)])])
    first = _table(tmp_path / "a", df, monkeypatch)
    assert first == _table(tmp_path / "b", df, monkeypatch)  # byte-identical in any folder
    numeric = pl.read_csv(tmp_path / "a" / "out" / "artifacts.csv")
    got = {(b, f): (acc, inside) for b, f, acc, inside in numeric.select("baseline", "format", "overall_acc", "chance_in_ci").iter_rows()}
    assert got[("always_yes", "yesno")] == (0.5, True)
    assert got[("longest", "mc4")] == (1.0, False) and got[("most_frequent", "yesno")] == (1.0, False)
    assert set(numeric.filter(pl.col("format") == "mc4")["chance"]) == {0.25}
    md = first["artifacts.md"].decode()
    assert "Surface-cue baselines" in md and "| Longest word" in md and "Chance in CI" in md
    prov = json.loads(first["artifacts.provenance.json"])
    assert prov["inputs"] == {"test.parquet": prov["inputs"]["test.parquet"]} and prov["wordnet"]["checksum"] == "abc123"


def test_too_few_test_clips_for_the_folds_is_a_row_of_na_with_its_reason(tmp_path, monkeypatch):
    """A tiny corpus (here 2 test clips) cannot be cross-validated in FOLDS folds by clip: the logistic row says
    n/a and why, every other baseline is still scored."""
    df = pl.concat([_mc(answer_first=True, n=4), items([("c0", "yesno", "international", "yes"),
                                                        ("c1", "yesno", "xzq", "no")])])
    with pytest.raises(ValueError, match=f"too few test clips for {A.FOLDS} folds \\(2 test clips"):
        A.logistic_baseline("mc4", df.filter(pl.col("format") == "mc4"), [], 0)
    out = _table(tmp_path / "a", df, monkeypatch)
    numeric = pl.read_csv(tmp_path / "a" / "out" / "artifacts.csv")
    logistic = numeric.filter(pl.col("baseline") == "logistic")
    assert logistic["format"].to_list() == ["yesno", "mc4"] and logistic["overall_n"].to_list() == [2, 4]
    assert logistic["overall_acc"].is_nan().all() and logistic["chance_in_ci"].is_null().all()
    assert logistic["not_scored"].str.starts_with(f"too few test clips for {A.FOLDS} folds (2 test clips").all()
    assert numeric.filter(pl.col("baseline") != "logistic")["not_scored"].is_null().all()
    assert numeric.filter(pl.col("baseline") == "longest", pl.col("format") == "mc4")["overall_acc"].to_list() == [1.0]
    md = out["artifacts.md"].decode()
    row = next(line for line in md.splitlines() if line.startswith("| Logistic") and "| mc4" in line)
    assert [cell.strip() for cell in row.strip("|").split("|")][2:] == ["n/a", "n/a", "n/a", "4", "25.0", "n/a"]
    assert f"(5-fold CV by clip), mc4: n/a, too few test clips for {A.FOLDS} folds (2 test clips" in md
    assert "clips.test_fraction" in md
