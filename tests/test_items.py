"""SHARD items on the real WordNet: balance, verified negatives, disjoint splits, determinism."""
from __future__ import annotations

import re

import polars as pl
import pytest

from shard import templates
from shard import wordnet as W
from shard.items import WordBank, build_items

LABELS = ["Dog", "Cat", "Car", "Thunder", "Bird", "Drum", "Siren", "Piano", "Rain", "Bass", "Xyzzy blorp"]
CLIPS_PER_LABEL = 8  # 5 test, 3 train
WORDNET_CFG = {"overrides": {"Bass": "bass.n.07"}, "max_hypernym_depth": 6,
               "skip_hypernyms": ["entity.n.01", "physical_entity.n.01", "abstraction.n.06", "object.n.01",
                                  "whole.n.02", "matter.n.03", "psychological_feature.n.01"]}
SHARD_CFG = {"relations": ["synonym", "hypernym", "hyponym", "cohyponym"], "formats": ["yesno", "mc4"],
             "items_per_clip": 2, "synset_disjoint": False}


@pytest.fixture(scope="module")
def wordnet_dir(tmp_path_factory, wordnet_reader):
    """clips.parquet + label_synsets + relations built once on the real WordNet."""
    d = tmp_path_factory.mktemp("wordnet")
    rows = [{"clip_id": f"{label.replace(' ', '_')}-{i}", "label": label, "labels": [label],
             "split": "test" if i < 5 else "train"} for label in LABELS for i in range(CLIPS_PER_LABEL)]
    pl.DataFrame(rows).sort("clip_id").write_parquet(d / "clips.parquet")
    W.build_wordnet(clips_parquet=d / "clips.parquet", label_synsets=d / "label_synsets.parquet",
                    relations=d / "relations.parquet", source=d / "source.json", wordnet=WORDNET_CFG, curated_map=None)
    yield d


def _run(wordnet_dir, out, seed=0, **shard):
    cfg = {**SHARD_CFG, **shard}
    paths = {k: out / f"{k}.{'md' if k == 'card' else 'parquet'}" for k in ("test", "train_pool", "words", "card")}
    build_items(clips_parquet=wordnet_dir / "clips.parquet", label_synsets=wordnet_dir / "label_synsets.parquet",
                relations=wordnet_dir / "relations.parquet", wordnet_source=wordnet_dir / "source.json",
                shard=cfg, seed=seed, config={"seed": seed, "shard": cfg, "wordnet": WORDNET_CFG}, **paths)
    return paths


@pytest.fixture(scope="module")
def built(wordnet_dir, tmp_path_factory):
    paths = _run(wordnet_dir, tmp_path_factory.mktemp("shard"))
    return paths, pl.read_parquet(paths["test"]), pl.read_parquet(paths["train_pool"])


def test_items_follow_the_format(built):
    paths, test, pool = built
    for items in (test, pool):
        assert items.height > 0 and items["item_id"].n_unique() == items.height
        assert items["question"].str.contains("<audio>", literal=True).all()
        assert set(items["relation"]) == set(SHARD_CFG["relations"])
        assert all(o[i] == a for o, i, a in items.select("options", "answer_index", "answer").iter_rows())
        yesno = items.filter(pl.col("format") == "yesno")
        assert all(o == ["yes", "no"] for o in yesno["options"].to_list())
        assert all(c in q for q, c in yesno.select("question", "candidate").iter_rows())
        mc = items.filter(pl.col("format") == "mc4")
        assert all(len(set(map(str.lower, o))) == 4 for o in mc["options"].to_list())
        assert all(q.endswith(" Options: " + ", ".join(o) + ".") for q, o in mc.select("question", "options").iter_rows())
        assert all(q == templates.render_one(templates.BY_ID[t].text, o if f == "mc4" else None, word=c)
                   for q, o, f, t, c in items.select("question", "options", "format", "template_id", "candidate").iter_rows())
        # items_per_clip items per (clip, relation, format)
        assert set(items.group_by("clip_id", "relation", "format").len()["len"]) == {2}
    assert not {"Xyzzy blorp"} & set(test["label"])  # unmapped: skipped
    assert set(test["clip_id"]).isdisjoint(pool["clip_id"])
    assert test["clip_id"].str.extract(r"-(\d)$").cast(int).lt(5).all()  # test items from test clips only
    card = paths["card"].read_text()
    assert "| Xyzzy blorp |" in card and "never a SHARD question with audio" in card
    assert re.search(r"\| Bass +\| bass.n.07 +\| override +\|", card)  # padded columns


def test_yes_no_balanced_and_answer_positions_uniform(built):
    _, test, pool = built
    for items in (test, pool):
        for relation, group in items.filter(pl.col("format") == "yesno").group_by("relation"):
            share = (group["answer"] == "yes").mean()
            assert abs(share - 0.5) <= 0.01, (relation, share)
        for relation, group in items.filter(pl.col("format") == "mc4").group_by("relation"):
            counts = group["answer_index"].value_counts()["count"]
            assert len(counts) == 4 and counts.max() - counts.min() <= 1, (relation, counts)


def test_candidates_are_true_and_negatives_never_related(built, wordnet_dir):
    _, test, pool = built
    wn = W.reader()
    mapping = dict(pl.read_parquet(wordnet_dir / "label_synsets.parquet").select("label", "synset").iter_rows())
    up = lambda s: s.hypernyms() + s.instance_hypernyms()  # noqa: E731
    down = lambda s: s.hyponyms() + s.instance_hyponyms()  # noqa: E731
    for row in pl.concat([test, pool]).iter_rows(named=True):
        s = wn.synset(row["synset"])
        ancestors = set(s.closure(up))
        lemmas = {l.name().replace("_", " ").lower() for t in ancestors | {s} for l in t.lemmas()}
        positive = row["answer"] == "yes" if row["format"] == "yesno" else True
        senses = set(wn.synsets(row["candidate"].replace(" ", "_"), "n"))
        if positive:  # the word asked about really stands in that relation
            rel = row["relation"]
            ok = {"synonym": {s}, "hypernym": ancestors, "hyponym": set(s.closure(down, depth=2)),
                  "cohyponym": {c for p in up(s) for c in down(p)} - {s}}[rel]
            assert senses & ok, row
        negatives = [row["candidate"]] if not positive else [o for o in row["options"] if o != row["answer"]]
        for word in negatives:
            senses = set(wn.synsets(word.replace(" ", "_"), "n"))
            assert not senses & (ancestors | {s}), (row["item_id"], word)
            assert all(s not in t.closure(up) for t in senses), (row["item_id"], word)  # not a descendant
            assert word.lower() not in lemmas
    assert mapping["Bass"] == "bass.n.07"


def test_ambiguous_words_are_guarded(wordnet_dir):
    """"bass" names an instrument, a voice and a fish: never a negative for anything any sense is under."""
    bank = WordBank(W.reader(), pl.read_parquet(wordnet_dir / "relations.parquet"))
    assert not bank.unrelated("bass", ("fish.n.01",))  # bass.n.08 (the fish) is a kind of fish
    assert not bank.unrelated("bass", ("bass.n.07",))
    assert not bank.unrelated("fish", ("bass.n.08",))  # an ancestor
    assert not bank.unrelated("wolf", ("dog.n.01",))  # a sibling under canine
    assert not bank.unrelated("puppy", ("dog.n.01",))  # a descendant
    assert bank.unrelated("bass", ("car.n.01",)) and bank.unrelated("piano", ("dog.n.01",))
    assert "bass" not in bank.negatives(("fish.n.01",), "hypernym", 0)


def test_words_are_closed_vocabulary_facts(built):
    paths, test, pool = built
    words = pl.read_parquet(paths["words"])
    assert words.columns == ["label", "synset", "word", "relation", "related"]
    items = pl.concat([test, pool])
    used = set(items["candidate"]) | {o for opts in items.filter(pl.col("format") == "mc4")["options"] for o in opts}
    assert used <= set(words["word"])  # every word the benchmark asks about is taught as a fact
    for (label, relation), group in words.group_by("label", "relation"):
        assert group["related"].sum() <= (~group["related"]).sum() + 0, (label, relation)  # balanced or more negatives
    facts = {(l, w, r): rel for l, w, r, rel in words.select("label", "word", "relation", "related").iter_rows()}
    for row in items.filter(pl.col("format") == "yesno").iter_rows(named=True):
        assert facts[(row["label"], row["candidate"], row["relation"])] == (row["answer"] == "yes")


def test_synset_disjoint(wordnet_dir, tmp_path):
    paths = _run(wordnet_dir, tmp_path, synset_disjoint=True)
    test, pool = pl.read_parquet(paths["test"]), pl.read_parquet(paths["train_pool"])
    assert test.height and pool.height
    assert set(test["synset"]).isdisjoint(pool["synset"])
    assert "Synset-disjoint assignment" in paths["card"].read_text()


def test_deterministic_bytes_and_seed_matters(built, wordnet_dir, tmp_path):
    first, _, _ = built
    again = _run(wordnet_dir, tmp_path / "again")
    for key in ("test", "train_pool", "words", "card"):
        assert first[key].read_bytes() == again[key].read_bytes(), key
    other = _run(wordnet_dir, tmp_path / "other", seed=1)
    assert first["test"].read_bytes() != other["test"].read_bytes()
