"""SHARD items on the real WordNet: balance, verified negatives, disjoint splits, determinism."""
from __future__ import annotations

import json
import re

import polars as pl
import pyarrow.parquet as pq
import pytest

from shard.common import sorted_parquet
from shard.dataset import items as items_module
from shard.prompts import templates
from shard.common import ShardError, rng
from shard.dataset.card import EXAMPLE_COLUMNS, _examples, build_card
from shard.dataset.items import build_items, unknown_synsets
from shard.dataset.mining import build_wordnet
from shard.dataset.relations import MERONYM_DEPTH
from shard.dataset.surface import zipf
from shard.dataset.taxonomy import part_closure
from shard.dataset.vocabulary import common_words
from shard.dataset.wordbank import WordBank
from shard.dataset.wordnet import reader
from shard.markdown import markdown_table

LABELS = ["Dog", "Cat", "Car", "Thunder", "Bird", "Drum", "Siren", "Piano", "Rain", "Bass", "Xyzzy blorp"]
CLIPS_PER_LABEL = 8  # 5 test, 3 train
WORDNET_CFG = {"overrides": {"Bass": "bass.n.07"}, "max_hypernym_depth": 6,
               "skip_hypernyms": ["entity.n.01", "physical_entity.n.01", "abstraction.n.06", "object.n.01",
                                  "whole.n.02", "matter.n.03", "psychological_feature.n.01"]}
SHARD_CFG = {"relations": ["synonym", "hypernym", "hyponym", "cohyponym", "meronym", "hypernym2"], "formats": ["yesno", "mc4"],
             "items_per_clip": 2, "synset_disjoint": False, "min_zipf": 2.0, "unknown_label_fraction": 0.0}


@pytest.fixture(scope="module")
def wordnet_dir(tmp_path_factory, wordnet_reader):
    """clips.parquet + label_synsets + relations built once on the real WordNet."""
    d = tmp_path_factory.mktemp("wordnet")
    rows = [{"clip_id": f"{label.replace(' ', '_')}-{i}", "label": label, "labels": [label],
             "split": "test" if i < 5 else "train"} for label in LABELS for i in range(CLIPS_PER_LABEL)]
    pl.DataFrame(rows).sort("clip_id").write_parquet(d / "clips.parquet")
    build_wordnet(clips_parquet=d / "clips.parquet", label_synsets=d / "label_synsets.parquet",
                    relations=d / "relations.parquet", source=d / "source.json", wordnet=WORDNET_CFG, curated_map=None)
    yield d


ARTIFACTS_MD = "**Surface-cue baselines on the SHARD test items (text only)**\n\n| Baseline | Chance in CI |\n|---|---|\n| Always yes | yes |\n"


def _run(wordnet_dir, out, seed=0, **shard):
    """Rule shard_items, then rule shard_card (with a stand-in for tables/artifacts.md: tests/test_artifacts.py)."""
    cfg = {**SHARD_CFG, **shard}
    paths = {k: out / f"{k}.{ext}" for k, ext in
             (("test", "parquet"), ("train_pool", "parquet"), ("words", "parquet"), ("summary", "json"), ("card", "md"))}
    made = {k: paths[k] for k in ("test", "train_pool", "words", "summary")}
    wordnet = {"label_synsets": wordnet_dir / "label_synsets.parquet", "wordnet_source": wordnet_dir / "source.json"}
    build_items(**wordnet, **made, relations=wordnet_dir / "relations.parquet", clips_parquet=wordnet_dir / "clips.parquet",
                shard=cfg, seed=seed)
    (out / "artifacts.md").write_text(ARTIFACTS_MD)
    build_card(**wordnet, **made, artifacts=out / "artifacts.md", card=paths["card"],
               config={"seed": seed, "shard": cfg, "wordnet": WORDNET_CFG})
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
        assert all(q == templates.render_one(templates.by_id(t).text, o if f == "mc4" else None, word=c)
                   for q, o, f, t, c in items.select("question", "options", "format", "template_id", "candidate").iter_rows())
        # at most items_per_clip items per (clip, relation, format); the summary counts the slots left over
        assert set(items.group_by("clip_id", "relation", "format").len()["len"]) <= {1, 2}
    summary = json.loads(paths["summary"].read_text())["slots_left"]
    for part, split in ((test, "test"), (pool, "train")):
        for row in (r for r in summary if r["split"] == split):
            assert part.filter(pl.col("relation") == row["relation"], pl.col("format") == row["format"]).height == row["items"]
    # yes/no pairs need one unrelated clip, mc4 groups three mutually unrelated ones: with ten labels, yes/no
    # keeps nearly every slot, mc4 a share (every relation but hypernym2, whose grandparents all overlap)
    yesno = [r for r in summary if r["format"] == "yesno"]
    assert sum(r["slots_left"] for r in yesno) < 0.1 * sum(r["items"] for r in yesno)
    assert {r["relation"] for r in summary if r["format"] == "mc4" and r["items"]} == set(SHARD_CFG["relations"]) - {"hypernym2"}
    assert not {"Xyzzy blorp"} & set(test["label"])  # unmapped: skipped
    assert set(test["clip_id"]).isdisjoint(pool["clip_id"])
    assert test["clip_id"].str.extract(r"-(\d)$").cast(int).lt(5).all()  # test items from test clips only
    card = paths["card"].read_text()
    assert "| Xyzzy blorp |" in card and "never a SHARD question with audio" in card
    assert ARTIFACTS_MD.rstrip() in card  # the surface-cue table, as the artifacts rule wrote it
    assert re.search(r"\| Bass +\| bass.n.07 +\| override +\|", card)  # padded columns


def test_every_question_text_is_right_as_often_as_chance(built):
    """The counterbalanced design: a yes/no question text is a "yes" as often as a "no"; an mc4 text (question
    and options in order) is asked of four clips or a multiple, each option its answer equally often. So
    answers are balanced per relation, and positions uniform, exactly."""
    _, test, pool = built
    for items in (test, pool):
        yesno = items.filter(pl.col("format") == "yesno").group_by("question").agg(
            yes=(pl.col("answer") == "yes").sum(), no=(pl.col("answer") == "no").sum())
        assert yesno.height and (yesno["yes"] == yesno["no"]).all()
        mc = items.filter(pl.col("format") == "mc4")
        per_text = mc.group_by("question", "answer_index").len().group_by("question").agg(
            positions=pl.len(), lo=pl.col("len").min(), hi=pl.col("len").max())
        assert per_text.height and (per_text["positions"] == 4).all() and (per_text["lo"] == per_text["hi"]).all()
        assert (mc.group_by("question").agg(pl.col("clip_id").n_unique() == pl.len())["clip_id"]).all()  # four clips
        for relation, group in items.filter(pl.col("format") == "mc4").group_by("relation"):
            counts = group["answer_index"].value_counts()["count"]
            assert len(counts) == 4 and counts.max() == counts.min(), (relation, counts)


def test_unknown_labels_are_grouped_apart(wordnet_dir, tmp_path):
    """With a share of labels left unknown (the text oracle's negative control), the groups form on each side
    apart, so each side is counterbalanced on its own: per side, every yes/no question text is a yes as often as a
    no, and every mc4 text has each option its answer equally often (mixed groups would break both)."""
    paths = _run(wordnet_dir, tmp_path, unknown_label_fraction=0.5)
    synsets = pl.read_parquet(wordnet_dir / "label_synsets.parquet")["synset"]
    unknown = unknown_synsets(synsets, 0.5, 0)
    assert len(unknown) == round(0.5 * synsets.drop_nulls().n_unique())
    for items in (pl.read_parquet(paths["test"]), pl.read_parquet(paths["train_pool"])):
        items = items.with_columns(unknown=pl.col("synset").is_in(sorted(unknown)))
        assert set(items.filter(pl.col("format") == "yesno")["unknown"]) == {True, False}
        yesno = items.filter(pl.col("format") == "yesno").group_by("unknown", "question").agg(
            yes=(pl.col("answer") == "yes").sum(), no=(pl.col("answer") == "no").sum())
        assert (yesno["yes"] == yesno["no"]).all()
        mc = items.filter(pl.col("format") == "mc4").group_by("unknown", "question", "answer_index").len().group_by(
            "unknown", "question").agg(positions=pl.len(), lo=pl.col("len").min(), hi=pl.col("len").max())
        assert mc.height and (mc["positions"] == 4).all() and (mc["lo"] == mc["hi"]).all()


def check_against_wordnet(items: pl.DataFrame) -> None:
    """H2's independent check, straight from WordNet (not the word bank): every word asked about with a
    "yes" or as the answer stands in the relation; every "no" word and distractor names nothing the clip's
    synset is, descends from or (meronyms) has."""
    wn = reader()
    up = lambda s: s.hypernyms() + s.instance_hypernyms()  # noqa: E731
    down = lambda s: s.hyponyms() + s.instance_hyponyms()  # noqa: E731
    for row in items.iter_rows(named=True):
        s = wn.synset(row["synset"])
        ancestors = set(s.closure(up))
        lemmas = {l.name().replace("_", " ").lower() for t in ancestors | {s} for l in t.lemmas()}
        positive = row["answer"] == "yes" if row["format"] == "yesno" else True
        senses = set(wn.synsets(row["candidate"].replace(" ", "_"), "n"))
        if positive:  # the word asked about really stands in that relation
            rel = row["relation"]
            ok = {"synonym": {s}, "hypernym": ancestors, "hyponym": set(s.closure(down, depth=2)),
                  "cohyponym": {c for p in up(s) for c in down(p)} - {s},
                  "meronym": {p for h in {s, *s.closure(up, depth=MERONYM_DEPTH)} for p in h.part_meronyms()},
                  "hypernym2": {g for p in up(s) for g in up(p)} - set(up(s))}[rel]
            assert senses & ok, row
        has = part_closure(s) if row["relation"] == "meronym" else set()
        negatives = [row["candidate"]] if not positive else [o for o in row["options"] if o != row["answer"]]
        for word in negatives:
            senses = set(wn.synsets(word.replace(" ", "_"), "n"))
            assert not senses & (ancestors | {s} | has), (row["item_id"], word)  # no negative part is one it has
            assert all(s not in t.closure(up) for t in senses), (row["item_id"], word)  # not a descendant
            assert word.lower() not in lemmas


def test_candidates_are_true_and_negatives_never_related(built, wordnet_dir):
    _, test, pool = built
    check_against_wordnet(pl.concat([test, pool]))
    mapping = dict(pl.read_parquet(wordnet_dir / "label_synsets.parquet").select("label", "synset").iter_rows())
    assert mapping["Bass"] == "bass.n.07"


def test_card_counts_and_examples_match_the_items_in_memory(built):
    """The card counts the items in streaming passes over the parquet files and finds its examples holding one
    (relation, format)'s item ids at a time; what it prints is what the whole tables in memory give."""
    paths, test, pool = built
    card = paths["card"].read_text()
    assert (f"- items: {test.height} test ({test['clip_id'].n_unique()} clips), {pool.height} train pool "
            f"({pool['clip_id'].n_unique()} clips); word facts: {pl.read_parquet(paths['words']).height}") in card
    picks = []
    for (relation, fmt), group in test.group_by(["relation", "format"]):
        group = group.sort("item_id")
        picks += group[sorted(rng(0, "card", relation, fmt).permutation(group.height)[:3].tolist())]["item_id"].to_list()
    examples = test.filter(pl.col("item_id").is_in(picks)).sort("relation", "format", "item_id").select(EXAMPLE_COLUMNS)
    assert examples.height == 3 * test.select("relation", "format").n_unique()
    assert "## Examples (test)\n\n" + markdown_table(examples) in card
    # the examples are found in one pass that relies on the items' item_id order, so out of order is an error
    with pytest.raises(ShardError, match="not sorted by item_id"):
        _examples(test.reverse().lazy(), seed=0)


def test_parts_asked_of_sources_and_the_card_says_why_labels_have_none(built):
    """Meronym items only where the clip's source has parts; the card counts items per relation and
    names, per relation, each label with none and why."""
    paths, test, pool = built
    items = pl.concat([test, pool])
    parts = items.filter(pl.col("relation") == "meronym")
    assert {"Dog", "Car", "Bird"} <= set(parts["label"]) and set(parts["source_kind"]) == {"source"}
    assert {"Thunder", "Rain"}.isdisjoint(parts["label"])  # a sound has no parts
    assert items.filter(pl.col("relation") == "hypernym2")["template_id"].str.starts_with("hypernym2.").all()
    card = paths["card"].read_text()
    counts = card.split("## Items per relation\n")[1].split("\n## ")[0]
    for relation in SHARD_CFG["relations"]:
        n_test, n_pool = (part.filter(pl.col("relation") == relation).height for part in (test, pool))
        labels = items.filter(pl.col("relation") == relation)["label"].n_unique()
        assert re.search(rf"\| {relation} +\| {n_test} +\| {n_pool} +\| {labels} +\|", counts), (relation, counts)
    missing = card.split("## Labels without items, per relation\n")[1].split("\n## ")[0]
    assert re.search(r"\| meronym +\| Thunder +\| \S+ +\| event-role label: meronym is asked of source labels only", missing)
    assert "Siren" not in set(parts["label"]) and re.search(r"\| meronym +\| Siren +\| siren.n.03 +\| event-role", missing)
    assert re.search(r"\| meronym +\| Bass +\| bass.n.07 +\| no part meronym in WordNet", missing)  # the instrument
    for relation, label in items.select("relation", "label").unique().iter_rows():
        assert not re.search(rf"\| {relation} +\| {re.escape(label)} +\|", missing)  # listed only when it has none


def test_ambiguous_words_are_guarded(wordnet_dir):
    """"bass" names an instrument, a voice and a fish: never a negative for anything any sense is under."""
    wn = reader()
    bank = WordBank(wn, common_words(wn, pl.read_parquet(wordnet_dir / "relations.parquet"), 2.0)[0])
    assert not bank.unrelated("bass", ("fish.n.01",))  # bass.n.08 (the fish) is a kind of fish
    assert not bank.unrelated("bass", ("bass.n.07",))
    assert not bank.unrelated("fish", ("bass.n.08",))  # an ancestor
    assert not bank.unrelated("wolf", ("dog.n.01",))  # a sibling under canine
    assert not bank.unrelated("puppy", ("dog.n.01",))  # a descendant
    assert bank.unrelated("bass", ("car.n.01",)) and bank.unrelated("piano", ("dog.n.01",))
    assert "bass" not in bank.negatives(("fish.n.01",), "hypernym", "source")


def test_words_are_closed_vocabulary_facts(built):
    paths, test, pool = built
    words = pl.read_parquet(paths["words"])
    assert words.columns == ["label", "synset", "word", "relation", "related", "zipf"]
    assert all(z == zipf(w) for w, z in words.select("word", "zipf").unique().iter_rows())
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
    for key in ("test", "train_pool", "words", "summary", "card"):
        assert first[key].read_bytes() == again[key].read_bytes(), key
    other = _run(wordnet_dir, tmp_path / "other", seed=1)
    assert first["test"].read_bytes() != other["test"].read_bytes()



def test_items_written_in_ranges_are_the_same(built, wordnet_dir, tmp_path, monkeypatch):
    """Ranges of a few clips each (many sorted passes per split) give the items of one pass, and the same summary."""
    first, test, pool = built
    monkeypatch.setattr(items_module, "RANGE_ITEMS", 50)
    assert len(items_module.item_ranges(pl.read_parquet(wordnet_dir / "clips.parquet")["clip_id"], SHARD_CFG)) > 5
    ranged = _run(wordnet_dir, tmp_path)
    assert pl.read_parquet(ranged["test"]).equals(test) and pl.read_parquet(ranged["train_pool"]).equals(pool)
    for key in ("words", "summary", "card"):
        assert first[key].read_bytes() == ranged[key].read_bytes(), key


def _shuffled_items(n: int) -> pl.DataFrame:
    """n item-like rows in no order; clip ids that are prefixes of others ("c1" and "c10") and sort around "."."""
    rows = [{"item_id": f"c{i % 37}{'-x' if i % 5 == 0 else ''}.rel.fmt.{i}", "n": i, "options": [str(i), "no"]} for i in range(n)]
    return pl.DataFrame(rows, schema=SORT_SCHEMA).sample(fraction=1.0, shuffle=True, seed=0)


SORT_SCHEMA = {"item_id": pl.String, "n": pl.Int64, "options": pl.List(pl.String)}


def test_sorted_parquet_matches_a_sort_in_memory(tmp_path):
    frame = _shuffled_items(3000)
    cuts = frame["item_id"].sort().gather_every(400).to_list()[1:]  # 8 ranges, each sorted in its own pass
    with sorted_parquet(tmp_path / "out.parquet", by="item_id", cuts=cuts, schema=SORT_SCHEMA, buffer_rows=500) as add:
        for start in range(0, frame.height, 170):
            add(frame.slice(start, 170))
    out = pl.read_parquet(tmp_path / "out.parquet")
    assert out.equals(frame.sort("item_id")) and out.schema == pl.Schema(SORT_SCHEMA)
    assert pq.ParquetFile(tmp_path / "out.parquet").metadata.num_row_groups == len(cuts) + 1
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]  # the spilled ranges are gone
    with sorted_parquet(tmp_path / "empty.parquet", by="item_id", cuts=cuts, schema=SORT_SCHEMA):
        pass
    assert pl.read_parquet(tmp_path / "empty.parquet").equals(pl.DataFrame(schema=SORT_SCHEMA))


def test_sorted_parquet_failure_leaves_no_file(tmp_path, monkeypatch):
    frame, cuts = _shuffled_items(1000), ["c2", "c5"]
    with pytest.raises(RuntimeError), sorted_parquet(tmp_path / "out.parquet", by="item_id", cuts=cuts,
                                                     schema=SORT_SCHEMA, buffer_rows=100) as add:
        add(frame.head(500))
        raise RuntimeError("the items failed")
    assert not list(tmp_path.iterdir())
    write_table, calls = pq.ParquetWriter.write_table, []

    def fail_second(self, table, *args, **kwargs):  # the write fails after its first range
        calls.append(table.num_rows)
        if len(calls) == 2:
            raise OSError("disk full")
        return write_table(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", fail_second)
    with pytest.raises(OSError), sorted_parquet(tmp_path / "out.parquet", by="item_id", cuts=cuts, schema=SORT_SCHEMA) as add:
        add(frame)
    assert len(calls) == 2 and not list(tmp_path.iterdir())

def test_words_people_know(built, wordnet_dir, tmp_path):
    """Lemmas rarer than min_zipf are never asked about nor offered, unless the only word of their
    (synset, relation); the card says how many the threshold left out."""
    paths, test, pool = built
    items = pl.concat([test, pool])
    offered = set(items["candidate"]) | {o for opts in items.filter(pl.col("format") == "mc4")["options"] for o in opts}
    words = pl.read_parquet(paths["words"])
    rare = words.filter(pl.col("related"), pl.col("zipf") < SHARD_CFG["min_zipf"])
    for label, relation in rare.select("label", "relation").unique().iter_rows():  # kept only as the last word left
        assert words.filter(pl.col("label") == label, pl.col("relation") == relation, pl.col("related")).height == 1
    relations = pl.read_parquet(wordnet_dir / "relations.parquet")
    assert "Canis familiaris" in set(relations["word"]) and zipf("Canis familiaris") < 2.0
    assert "Canis familiaris" not in offered | set(words["word"])
    card = paths["card"].read_text()
    _, removed = common_words(reader(), relations.filter(pl.col("relation").is_in(SHARD_CFG["relations"])), 2.0)
    assert removed.height > 0 and f"- words people know: {removed.height} relation words rarer than Zipf 2.0" in card
    everything = _run(wordnet_dir, tmp_path, min_zipf=0.0)
    assert "Canis familiaris" in set(pl.read_parquet(everything["words"])["word"])


def _ranks(items: pl.DataFrame, column) -> list[float]:
    """mc4: credit of 'pick the option with the largest value' (ties split), per item."""
    out = []
    for options, answer in items.select("options", "answer_index").iter_rows():
        values = [column(o) for o in options]
        top = [i for i, v in enumerate(values) if v == max(values)]
        out.append(1 / len(top) if answer in top else 0.0)
    return out


def test_surface_features_tell_nothing(built):
    """The right word is the commonest, rarest or longest option exactly as often as chance, yes candidates
    are the no candidates (as a multiset), and every word is a "yes" exactly as often as a "no"."""
    _, test, pool = built
    for items in (test, pool):
        mc = items.filter(pl.col("format") == "mc4")
        for name, column in (("commonest", zipf), ("rarest", lambda w: -zipf(w)), ("longest", len)):
            assert sum(_ranks(mc, column)) == pytest.approx(mc.height / 4), name
        yesno = items.filter(pl.col("format") == "yesno")
        for relation, group in yesno.group_by("relation"):
            yes, no = (sorted(group.filter(pl.col("answer") == a)["candidate"]) for a in ("yes", "no"))
            assert yes == no, relation
