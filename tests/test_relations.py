"""A new relation is one record (shard.dataset.relations): registered here, with no other edit, the config accepts
it, the wordnet rule mines its rows from the real WordNet for the default corpus's labels, the items rule
asks it, the card explains the labels without it, and prompts and tables render it."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import polars as pl
import pytest
import yaml

from shard.prompts import templates
from shard.dataset.card import build_card
from shard.common import ShardError
from shard.config import schema, validate_config
from shard.dataset.corpora.synth import class_list
from shard.dataset.items import build_items
from shard.dataset.mining import build_wordnet
from shard.prompts.synthesis import assemble_train_prompts, build_eval_prompts, fact_pretrain_prompts, plan_train_prompts
from shard.dataset.relations import EVENT, RELATIONS, SOURCE, Relation, Target, ordered_relations, register, relation_title
from shard.dataset.senses import role_of
from shard.dataset.taxonomy import by_depth, parents

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((ROOT / "config.yaml").read_text())
HOLDER_DEPTH = 3


def holonyms(synset, skip, max_depth):
    """The wholes the thing is a member or a part of (a pack, a car), its own and its hypernyms' up to
    HOLDER_DEPTH steps, each at the depth of its holder plus one."""
    holders = {synset: 0, **{t: d for t, d in by_depth(synset, parents, HOLDER_DEPTH).items() if t.name() not in skip}}
    for holder, depth in holders.items():
        for whole in holder.member_holonyms() + holder.part_holonyms():
            yield Target(whole, depth + 1)


def every_whole(synset):
    """A negative whole may be none the thing belongs to by any inherited path."""
    return {w for h in [synset, *by_depth(synset, parents, 100)] for w in h.member_holonyms() + h.part_holonyms()}


HOLONYM = Relation(
    "holonym", "Holonym", holonyms, f"no member or part holonym within {HOLDER_DEPTH} hypernym steps",
    questions={(SOURCE, "yesno"): ("Is the thing making <audio> a part or a member of {word}?",),
               (SOURCE, "mc4"): ("The thing making <audio> is a part or a member of which of these?",)},
    facts={"yesno": "Is {a} a part or a member of {b}?", "mc4": "{a} is a part or a member of which of these?"},
    preferred_depth=2, negative_guard=every_whole,
)


@pytest.fixture(scope="module")
def holonym():
    """HOLONYM registered for this module's tests; the registry as it was afterwards."""
    saved = dict(RELATIONS)
    register(HOLONYM)
    yield HOLONYM
    RELATIONS.clear()
    RELATIONS.update(saved)


def test_config_accepts_a_registered_relation(holonym):
    cfg = copy.deepcopy(DEFAULT)
    cfg["shard"]["relations"] = ["synonym", "holonym"]
    assert validate_config(cfg)["shard"]["relations"] == ["synonym", "holonym"]
    assert "holonym" in schema()["properties"]["shard"]["properties"]["relations"]["items"]["enum"]
    cfg["shard"]["relations"] = ["synonym", "holonyms"]
    with pytest.raises(ShardError, match="shard.relations"):
        validate_config(cfg)


def test_tables_title_and_order_it(holonym):
    assert relation_title("holonym") == "Holonym" and relation_title("hypernym2") == "Hypernym (2 hops)"
    assert ordered_relations(["holonym", "zzz", "synonym", "hypernym2"]) == ["synonym", "hypernym2", "holonym", "zzz"]


@pytest.fixture(scope="module")
def built(holonym, wordnet_reader, tmp_path_factory):
    """The default corpus's labels (5 clips each, 3 test), through the wordnet and items rules as the default
    config sets them up, asking synonym and holonym."""
    d = tmp_path_factory.mktemp("holonym")
    labels = class_list(DEFAULT["corpus"]["synth"].get("classes"))
    rows = [{"clip_id": f"{label.replace(' ', '_')}-{i}", "label": label, "labels": [label],
             "split": "test" if i < 3 else "train"} for label in labels for i in range(5)]
    pl.DataFrame(rows).sort("clip_id").write_parquet(d / "clips.parquet")
    wordnet = {"overrides": {}, **DEFAULT["wordnet"]}
    wn = {k: d / f"{k}.parquet" for k in ("label_synsets", "relations")}
    build_wordnet(clips_parquet=d / "clips.parquet", source=d / "source.json", wordnet=wordnet, curated_map="builtin", **wn)
    shard = {**DEFAULT["shard"], "relations": ["synonym", "holonym"]}
    made = {k: d / f"{k}.{ext}" for k, ext in (("test", "parquet"), ("train_pool", "parquet"), ("words", "parquet"),
                                               ("summary", "json"))}
    build_items(clips_parquet=d / "clips.parquet", label_synsets=wn["label_synsets"], relations=wn["relations"],
                wordnet_source=d / "source.json", shard=shard, seed=0, **made)
    (d / "artifacts.md").write_text("(stand-in)\n")
    build_card(label_synsets=wn["label_synsets"], wordnet_source=d / "source.json", artifacts=d / "artifacts.md",
               card=d / "card.md", config={"seed": 0, "shard": shard, "wordnet": wordnet}, **made)
    return d


def test_wordnet_rule_mines_its_rows(built):
    rel = pl.read_parquet(built / "relations.parquet")
    wholes = rel.filter(pl.col("relation") == "holonym")
    dog = dict(wholes.filter(pl.col("synset") == "dog.n.01").select("target_synset", "depth").iter_rows())
    assert dog["pack.n.06"] == 1 and dog["canis.n.01"] == 1 and dog["canidae.n.01"] == 2
    assert ("automobile_horn.n.01", "car") in set(wholes.select("synset", "word").iter_rows())
    assert wholes.filter(pl.col("synset") == "piano.n.01").is_empty()
    assert set(rel["relation"]) == {*RELATIONS}  # every registered relation, the six and the new one


def test_items_rule_asks_it_and_the_card_says_why_labels_have_none(built):
    test, pool = pl.read_parquet(built / "test.parquet"), pl.read_parquet(built / "train_pool.parquet")
    items = pl.concat([test, pool]).filter(pl.col("relation") == "holonym")
    assert {"Dog", "Bird", "Car horn"} <= set(items["label"]) and set(items["source_kind"]) == {SOURCE}
    assert set(items["format"]) == {"yesno", "mc4"}
    assert set(items["template_id"]) <= {"holonym.source.yesno.0", "holonym.source.mc4.0"}
    dog = items.filter(pl.col("label") == "Dog", pl.col("format") == "yesno", pl.col("answer") == "yes")
    assert dog.height and set(dog["question"]) <= {f"Is the thing making <audio> a part or a member of {w}?"
                                                   for w in ("pack", "Canis", "genus Canis", "Canidae", "family Canidae")}
    card = (built / "card.md").read_text()
    missing = card.split("## Labels without items, per relation\n")[1].split("\n## ")[0]
    assert re.search(r"\| holonym +\| Piano +\| piano.n.01 +\| no member or part holonym within 3 hypernym steps", missing)
    assert re.search(r"\| holonym +\| Thunder +\| thunder.n.02 +\| event-role label: holonym is asked of source labels only",
                     missing)
    counts = card.split("## Items per relation\n")[1].split("\n## ")[0]
    n_test, n_pool = (part.filter(pl.col("relation") == "holonym").height for part in (test, pool))
    assert re.search(rf"\| holonym +\| {n_test} +\| {n_pool} +\| {items['label'].n_unique()} +\|", counts)


def test_prompts_render_it(built, tmp_path):
    out = {k: tmp_path / f"{k}.parquet" for k in
           ("semantic_original", "semantic_interleaved", "labelling_original", "labelling_interleaved")}
    build_eval_prompts(test=built / "test.parquet", clips_parquet=built / "clips.parquet", **out)
    original = pl.read_parquet(out["semantic_original"]).filter(pl.col("relation") == "holonym")
    assert original.height == pl.read_parquet(built / "test.parquet").filter(pl.col("relation") == "holonym").height
    assert original["text"].str.starts_with("<audio>Is the thing making the sound a part or a member of ").any()
    assert original["text"].str.starts_with("<audio>The thing making the sound is a part or a member of which").any()
    words = pl.read_parquet(built / "words.parquet")
    roles = {label: role_of(lexname) for label, lexname in
             pl.read_parquet(built / "label_synsets.parquet").select("label", "lexname").iter_rows() if lexname}
    facts = fact_pretrain_prompts(words, roles, set(words["label"]), seed=0).filter(pl.col("relation") == "holonym")
    assert facts.filter(pl.col("question_format") == "yesno")["text"].str.contains("^Is dog a part or a member of ").any()
    assert facts.filter(pl.col("question_format") == "mc4")["text"].str.contains(
        r"^dog is a part or a member of which of these\? Options: ").any()
    pool = pl.read_parquet(built / "train_pool.parquet")
    clips = pl.read_parquet(built / "clips.parquet")
    train = assemble_train_prompts(pool, plan_train_prompts(pool, clips, 2000, seed=0, replay_fraction=0.0,
                                                            multi_clip_fraction=0.0), prefix="t")
    holonym_texts = train.filter(pl.col("relation") == "holonym")["text"]
    assert holonym_texts.len() and holonym_texts.str.contains("a part or a member of").all()
    # the tokenizer learns its texts only in runs that ask it (Relation.in_tokenizer is False)
    question = templates.semantic_templates("holonym", SOURCE, "yesno")[0].text
    assert question in templates.tokenizer_texts(["holonym"]) and question not in templates.tokenizer_texts()
    assert templates.semantic_templates("holonym", EVENT, "yesno") == []

