"""Surface-cue baselines (tables/artifacts.*) on small hand-built item sets whose answers are known."""
import json

import numpy as np
import polars as pl
import pytest

from shard.dataset import artifacts as A
from shard.dataset import surface
from shard.dataset.items import ITEM_SCHEMA

CONFIG = {"seed": 0, "evaluate": {"bootstrap": 200}, "shard": {"audit_items": None}}
MC, YN = "hypernym.source.mc4.0", "hypernym.source.yesno.0"
YN_TEMPLATES = ["hypernym.source.yesno.0", "hypernym.source.yesno.1", "hypernym.source.yesno.2",
                "hypernym.event.yesno.0", "hypernym.event.yesno.1", "hypernym.event.yesno.2"]
LONG_COMMON = ["international", "information", "development", "government", "environment", "university"]
SHORT_RARE = ["xzq", "qwv", "jxq", "vkz", "xqj", "zqv", "wxq", "qzk", "kxz"]  # Zipf 0, three letters
SIMILAR = {"sound", "noise"}  # what the fake embedder puts next to every question
MC4_LEARNED = ["logistic", "boosting", "bag_of_words"]


def fake_embed(texts):
    """Unit vectors: every question stem and every SIMILAR word on one axis, other words on another,
    so a SIMILAR option has similarity 1 to the question and any other 0."""
    out = np.zeros((len(texts), 3))
    for i, t in enumerate(texts):
        out[i, 0 if (t in SIMILAR or "<audio>" in t) else 1 + len(t) % 2] = 1.0
    return out


def items(rows, relation=None, template=None) -> pl.DataFrame:
    """Item rows from (clip, format, options or candidate, answer) tuples, in shard.dataset.items' schema.
    A yes/no question holds its candidate, as SHARD's do; `template(i)` picks item i's template."""
    out = []
    for i, (clip, fmt, words, answer) in enumerate(rows):
        tid = template(i) if template else (MC if fmt == "mc4" else YN)
        if fmt == "mc4":
            options, candidate, index, question = list(words), answer, list(words).index(answer), f"{tid} <audio>?"
        else:
            options, candidate, index = ["yes", "no"], words, 0 if answer == "yes" else 1
            question = f"{tid} <audio> {words}?"
        out.append({"item_id": f"{clip}.{i:04d}", "clip_id": clip, "label": "L", "synset": "dog.n.01",
                    "relation": relation(i) if relation else ("hypernym" if i % 2 else "synonym"), "format": fmt,
                    "template_id": tid, "question": question, "options": options,
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


def _credit(name, fmt, df, features=None):
    features = A.option_features(df, fake_embed) if features is None else features
    if name in A.LEARNED:
        return A.learned_baseline(name, fmt, df, features, 0)
    return A.rule_baseline(name, fmt, df, features)


def _planted(n, right, wrong, seed=0):
    """n mc4 items of distinct texts whose features are given, not looked up: the right option's
    features `right(g)` and three wrong ones' `wrong(g)` (a (3, 4) array), in a random order."""
    g = np.random.default_rng(seed)
    rows, feats = [], []
    for i in range(n):
        order = g.permutation(4)
        opts = [f"w{i}_{j}" for j in range(4)]
        f = np.vstack([right(g), wrong(g)])[order]
        rows.append((f"c{i}", "mc4", opts, opts[int(np.argmin(order))]))
        feats.append(f)
    return items(rows), np.array(feats)


# ---------------------------------------------------------------- rules
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


def test_centroid_baselines_find_an_answer_in_the_middle_or_at_the_edge():
    """The right option is the middle one on Zipf (others equal): nearest the centroid gets every item,
    farthest none; an answer at the edge, the reverse. A tie of equal options splits the point."""
    on_zipf = lambda *zipf: np.array([[z, 5.0, 1, 0] for z in zipf])
    middle, f = _planted(40, lambda g: on_zipf(2.0), lambda g: on_zipf(0.0, 1.0, 5.0))  # mean 2
    f[:, :, 0] += np.arange(40)[:, None] % 7  # at a level of its own per item
    assert _credit("nearest_centroid", "mc4", middle, f).mean() == 1.0
    assert _credit("farthest_centroid", "mc4", middle, f).mean() == 0.0
    edge, f = _planted(40, lambda g: on_zipf(9.0), lambda g: on_zipf(0.0, 1.0, 2.0))
    assert _credit("farthest_centroid", "mc4", edge, f).mean() == 1.0
    assert _credit("nearest_centroid", "mc4", edge, f).mean() == 0.0
    tied = items([("c0", "mc4", ["xzq", "qwv", "jxq", "vkz"], "qwv")])
    assert _credit("nearest_centroid", "mc4", tied).tolist() == [0.25]


# ---------------------------------------------------------------- learned models
def test_logistic_regression_finds_a_planted_cue_and_nothing_else():
    g = np.random.default_rng(0)
    rows = []
    for i in range(60):  # mc4: the answer is always the long common word, in a random position
        words = [LONG_COMMON[i % 6], *g.choice(SHORT_RARE, 3, replace=False)]
        order = g.permutation(4)
        rows.append((f"c{i // 2}", "mc4", [words[j] for j in order], words[0]))
    assert _credit("logistic", "mc4", items(rows)).mean() > 0.9
    rows = [(f"c{i // 2}", "yesno", LONG_COMMON[i % 6] if i % 2 else SHORT_RARE[i % 9], "yes" if i % 2 else "no")
            for i in range(60)]
    assert _credit("logistic", "yesno", items(rows, template=lambda i: YN_TEMPLATES[i % 6])).mean() > 0.9
    # no cue: the answer is the long word or any short one, at random
    rows = []
    for i in range(120):
        words = [LONG_COMMON[i % 6], *g.choice(SHORT_RARE, 3, replace=False)]
        rows.append((f"c{i // 2}", "mc4", words, words[int(g.integers(4))]))
    assert abs(_credit("logistic", "mc4", items(rows)).mean() - 0.25) < 0.1


def test_boosting_sees_centrality_which_the_linear_model_cannot():
    """The answer is always the option nearest the options' mean, at a level that varies by item, with
    distractors below and above it: gradient boosting finds it; the linear model, ranking options
    on Zipf, picks an edge and does no better than chance."""
    def wrong(g):
        d = g.choice([-1, 1]) * g.uniform(1, 3)
        return np.column_stack([[-d, d, 3 * g.choice([-1, 1])], np.full((3, 3), [5.0, 1, 0])])

    df, f = _planted(300, lambda g: np.array([0.0, 5, 1, 0]), wrong, seed=1)
    f[:, :, 0] += np.random.default_rng(5).uniform(2, 6, (300, 1))  # at a level of its own per item
    assert _credit("boosting", "mc4", df, f).mean() > 0.9
    assert _credit("logistic", "mc4", df, f).mean() <= 0.25


def test_boosting_and_bag_of_words_on_yes_no():
    # boosting: yes iff the candidate's Zipf frequency is in a middle band (no linear rule has it)
    g = np.random.default_rng(4)
    zipf = g.uniform(0, 8, 200)
    yes = np.abs(zipf - 4) < 1.5
    df = items([(f"c{i}", "yesno", f"w{i}", "yes" if y else "no") for i, y in enumerate(yes)])
    f = np.column_stack([zipf, np.full((200, 3), [5.0, 1, 0])])[:, None, :]
    assert _credit("boosting", "yesno", df, f).mean() > 0.85
    assert _credit("logistic", "yesno", df, f).mean() < 0.7
    # bag of words: "dog" is always true, whatever the question; other words true or false at random
    g = np.random.default_rng(2)
    rows = [(f"c{i}", "yesno", "dog" if i % 3 == 0 else f"w{g.integers(30)}", "yes" if i % 3 == 0 or g.random() < .5 else "no")
            for i in range(240)]
    df = items(rows, template=lambda i: YN_TEMPLATES[i % 6])
    credit = _credit("bag_of_words", "yesno", df)
    dog = (df["candidate"] == "dog").to_numpy()
    assert credit[dog].mean() == 1.0 and credit.mean() > 0.6


def test_bag_of_words_finds_a_word_that_is_always_right():
    """"dog" is right wherever it is offered; the other words, right at random: a word's prior shows."""
    g = np.random.default_rng(3)
    rows = []
    for i in range(200):
        words = [f"w{k}" for k in g.choice(40, 4, replace=False)]
        if i % 2 == 0:
            words[int(g.integers(4))] = "dog"
        rows.append((f"c{i}", "mc4", words, "dog" if "dog" in words else words[int(g.integers(4))]))
    df = items(rows)
    alike = np.zeros((200, 4, len(A.FEATURES)))  # every word's features alike: only the word itself tells
    credit = _credit("bag_of_words", "mc4", df, alike)
    dog = df["options"].list.contains("dog").to_numpy()
    assert credit[dog].mean() > 0.9 and credit.mean() > 0.5
    assert _credit("logistic", "mc4", df, alike).mean() == 0.25


# ---------------------------------------------------------------- design groups and folds
def _design_groups(n_groups=24, seed=0) -> pl.DataFrame:
    """Counterbalanced design groups, as SHARD's generator builds them: mc4, four clips shown the same
    question and the same four options in one order, each option right for one of them; yes/no, a pair
    of clips asked the same question, true for one and false for the other. The words carry cues
    (long, common, similar), but every text is right as often as its design makes it."""
    g = np.random.default_rng(seed)
    vocab = LONG_COMMON + SHORT_RARE + sorted(SIMILAR)
    mc, yn, mc_rel, yn_rel = [], [], [], []
    for k in range(n_groups):
        rel = ["hypernym", "synonym"][k % 2]
        options = list(g.choice(vocab, 4, replace=False))
        for j in range(4):
            mc.append((f"m{k}.{j}", "mc4", options, options[j]))
            mc_rel.append(rel)
        for answer in ("yes", "no"):
            yn.append((f"y{k}.{answer}", "yesno", vocab[k % len(vocab)], answer))
            yn_rel.append(rel)
    return pl.concat([items(mc, relation=lambda i: mc_rel[i]),
                      items(yn, relation=lambda i: yn_rel[i], template=lambda i: YN_TEMPLATES[i // 2 % 6])])


def test_every_baseline_scores_exactly_chance_on_counterbalanced_design_groups():
    """Any function of the text scores chance on a design group, learned or not, when the folds keep a
    group's items together (folds by clip would fit a model on a scored item's mates, the same text
    with another answer, and memorising baselines would score below chance)."""
    numeric = A.artifact_stats(_design_groups(), fake_embed, 50, 0)
    assert set(numeric["baseline"]) == set(A.BASELINES)
    for row in numeric.iter_rows(named=True):
        assert row["overall_acc"] == pytest.approx(A.CHANCE[row["format"]], abs=1e-12), row["baseline"]
        assert row["hypernym_acc"] == pytest.approx(A.CHANCE[row["format"]], abs=1e-12), row["baseline"]


def test_folds_are_grouped_by_text_and_seeded():
    df = _design_groups(23)
    groups = A.text_groups(df)
    texts = (df["format"] + df["question"] + df["options"].list.join("|")).to_numpy()
    assert all(len(set(groups[texts == t])) == 1 for t in set(texts))  # one group per text
    assert np.unique(groups).size == len(set(texts)) == 2 * 23
    folds = A.group_folds(groups, A.FOLDS, 0)
    for t in set(texts):
        assert len(set(folds[texts == t])) == 1  # no text in two folds
    per_fold = np.bincount([folds[groups == g][0] for g in np.unique(groups)], minlength=A.FOLDS)
    assert per_fold.max() - per_fold.min() <= 1
    assert (A.group_folds(groups, A.FOLDS, 0) == folds).all() and not (A.group_folds(groups, A.FOLDS, 1) == folds).all()


def test_audit_sample_keeps_whole_text_groups_seeded_and_bounded(tmp_path):
    """More test items than shard.audit_items: a seeded sample of whole text groups, read in batches, no larger
    than asked, and every baseline still exactly at chance on it (each design group stays counterbalanced)."""
    df = _design_groups(40)
    df.write_parquet(tmp_path / "test.parquet", row_group_size=50)
    every, total = A.audit_sample(tmp_path / "test.parquet", None, 0)
    assert total == df.height == every.height
    sample, total = A.audit_sample(tmp_path / "test.parquet", 100, 0, batch=37)
    assert total == df.height and 90 <= sample.height <= 100
    assert sample.equals(df.filter(pl.col("item_id").is_in(sample["item_id"].implode())))  # file order, whole rows
    groups, kept = A.text_groups(df), df["item_id"].is_in(sample["item_id"].implode()).to_numpy()
    assert all(kept[groups == g].all() or not kept[groups == g].any() for g in np.unique(groups))  # whole groups
    assert set(sample["format"]) == {"mc4", "yesno"}
    again, _ = A.audit_sample(tmp_path / "test.parquet", 100, 0, batch=1000)
    other, _ = A.audit_sample(tmp_path / "test.parquet", 100, 1)
    assert again.equals(sample) and not other.equals(sample)
    for row in A.artifact_stats(sample, fake_embed, 50, 0).iter_rows(named=True):
        assert row["overall_acc"] == pytest.approx(A.CHANCE[row["format"]], abs=1e-12), row["baseline"]


# ---------------------------------------------------------------- the table
def _table(tmp_path, df, monkeypatch, config=CONFIG):
    monkeypatch.setattr(surface, "exact_embedder", lambda: fake_embed)
    tmp_path.mkdir()
    monkeypatch.chdir(tmp_path)
    df.write_parquet("test.parquet")
    (tmp_path / "source.json").write_text(json.dumps({"checksum": "abc123", "version": "3.0"}))
    A.artifacts_table(test="test.parquet", csv="out/artifacts.csv", md="out/artifacts.md",
                      provenance="out/artifacts.provenance.json", config=config, wordnet_source="source.json")
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
    assert got[("farthest_centroid", "mc4")] == (1.0, False) and got[("nearest_centroid", "mc4")] == (0.0, False)
    assert set(numeric.filter(pl.col("format") == "mc4")["chance"]) == {0.25}
    md = first["artifacts.md"].decode()
    for name, formats in A.BASELINES.values():
        assert f"| {name}" in md
    assert "Surface-cue baselines" in md and "Chance in CI" in md and "grouped by question" in md
    prov = json.loads(first["artifacts.provenance.json"])
    assert prov["inputs"] == {"test.parquet": prov["inputs"]["test.parquet"]} and prov["wordnet"]["checksum"] == "abc123"


def test_a_sampled_audit_says_so(tmp_path, monkeypatch):
    df = _design_groups(40)
    full = _table(tmp_path / "a", df, monkeypatch)["artifacts.md"].decode()
    sampled = _table(tmp_path / "b", df, monkeypatch, {**CONFIG, "shard": {"audit_items": 100}})["artifacts.md"].decode()
    assert "seeded sample" not in full
    n = A.audit_sample(tmp_path / "b" / "test.parquet", 100, CONFIG["seed"])[0].height
    assert n < df.height
    assert f"Scored on a seeded sample of {n:,} of the {df.height:,} test items, in whole text groups" in sampled


def test_too_few_texts_for_the_folds_is_a_row_of_na_with_its_reason(tmp_path, monkeypatch):
    """A tiny corpus (here 4 mc4 texts and 2 yes/no ones) cannot be cross-validated in FOLDS folds by
    text: every learned row says n/a and why, every rule is still scored."""
    df = pl.concat([_mc(answer_first=True, n=4), items([("c0", "yesno", "international", "yes"),
                                                        ("c1", "yesno", "xzq", "no")])])
    with pytest.raises(ValueError, match=f"too few distinct item texts for {A.FOLDS} folds \\(4 texts"):
        A.learned_baseline("boosting", "mc4", df.filter(pl.col("format") == "mc4"), None, 0)
    out = _table(tmp_path / "a", df, monkeypatch)
    numeric = pl.read_csv(tmp_path / "a" / "out" / "artifacts.csv")
    learned = numeric.filter(pl.col("baseline").is_in(list(A.LEARNED)))
    assert learned.height == 6 and learned["overall_acc"].is_nan().all() and learned["chance_in_ci"].is_null().all()
    assert learned.filter(pl.col("format") == "mc4")["not_scored"].str.starts_with(
        f"too few distinct item texts for {A.FOLDS} folds (4 texts").all()
    assert learned.filter(pl.col("format") == "yesno")["overall_n"].to_list() == [2, 2, 2]
    assert numeric.filter(~pl.col("baseline").is_in(list(A.LEARNED)))["not_scored"].is_null().all()
    assert numeric.filter(pl.col("baseline") == "longest", pl.col("format") == "mc4")["overall_acc"].to_list() == [1.0]
    md = out["artifacts.md"].decode()
    row = next(line for line in md.splitlines() if line.startswith("| Logistic") and "| mc4" in line)
    assert [cell.strip() for cell in row.strip("|").split("|")][2:] == ["n/a", "n/a", "n/a", "4", "25.0", "n/a"]
    assert f"(5-fold CV by question), mc4: n/a, too few distinct item texts for {A.FOLDS} folds (4 texts" in md
    assert "clips.test_fraction" in md
