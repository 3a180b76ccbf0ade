"""Rule `wordnet` on the real WordNet: label -> synset (shard.dataset.senses) and the relation rows of each
registered relation's walk (shard.dataset.mining, shard.dataset.relations)."""
from __future__ import annotations

import json

import polars as pl
import pytest

from shard.dataset import mining as M
from shard.dataset import senses as S
from shard.common import ShardError
from shard.dataset.relations import MERONYM_DEPTH
from shard.dataset.taxonomy import parents, part_closure

WORDNET_CFG = {"overrides": {}, "max_hypernym_depth": 6,
               "skip_hypernyms": ["entity.n.01", "physical_entity.n.01", "abstraction.n.06", "object.n.01",
                                  "whole.n.02", "matter.n.03", "psychological_feature.n.01"]}


@pytest.fixture(scope="module")
def wn(wordnet_reader):
    return wordnet_reader


def _clips(path, labels):
    pl.DataFrame({"clip_id": [f"c{i}" for i in range(len(labels))], "labels": [[l] for l in labels]}).write_parquet(path)
    return path


def _build(tmp_path, labels, overrides=None, curated_map=None):
    cfg = {**WORDNET_CFG, "overrides": overrides or {}}
    out = {k: tmp_path / f"{k}.parquet" for k in ("label_synsets", "relations")}
    M.build_wordnet(clips_parquet=_clips(tmp_path / "clips.parquet", labels), source=tmp_path / "source.json",
                    wordnet=cfg, curated_map=curated_map, **out)
    table = pl.read_parquet(out["label_synsets"])
    return {r["label"]: r for r in table.iter_rows(named=True)}, pl.read_parquet(out["relations"])



def test_label_variants():
    forms = [f for f, _ in S.label_variants("Clock (ticking)")]
    assert forms[0] == "clock"
    forms = [f for f, _ in S.label_variants("Car horn")]
    assert forms[0] == "car_horn" and forms[-1] == "horn"


def test_realistic_labels_map_sensibly(wn, tmp_path):
    labels = ["Dog", "Car", "Thunder", "Saw", "Hammer", "Siren", "Cricket", "Footsteps",
              "Clock (ticking)", "Church bell", "Car horn", "Xyzzy blorp"]
    m, rel = _build(tmp_path, labels)
    assert m["Dog"]["synset"] == "dog.n.01" and m["Dog"]["method"] == "auto"
    assert m["Car"]["synset"] == "car.n.01"
    # Thunder: the noise (thunder.n.01 is canonically boom.n.01), never a person or a verb
    assert wn.synset(m["Thunder"]["synset"]) == wn.synset("thunder.n.01")
    assert m["Thunder"]["lexname"] in {"noun.event", "noun.phenomenon"}
    assert m["Saw"]["synset"] == "saw.n.02"  # the tool, not the proverb
    assert m["Hammer"]["synset"] == "hammer.n.02"  # the hand tool, not the gunlock part
    assert m["Siren"]["lexname"] != "noun.person"  # not the sea nymph
    assert m["Cricket"]["lexname"] == "noun.animal"
    assert m["Footsteps"]["synset"] == "footfall.n.01"  # "the sound of a step"
    assert m["Clock (ticking)"]["synset"] == "clock.n.01"
    assert m["Church bell"]["synset"] == "church_bell.n.01"
    assert m["Car horn"]["synset"] == "automobile_horn.n.01"
    bad = m["Xyzzy blorp"]
    assert bad["synset"] is None and bad["method"] == "unmapped" and "xyzzy" in bad["reason"]

    dog = rel.filter(pl.col("synset") == "dog.n.01")
    hyper = dict(dog.filter(pl.col("relation") == "hypernym").select("target_synset", "depth").iter_rows())
    assert hyper["canine.n.02"] == 1 and hyper["carnivore.n.01"] == 2 and hyper["domestic_animal.n.01"] == 1
    assert "entity.n.01" not in hyper and max(hyper.values()) <= 6
    assert "wolf" in dog.filter(pl.col("relation") == "cohyponym")["word"].to_list()
    assert "puppy" in dog.filter(pl.col("relation") == "hyponym")["word"].to_list()
    dog_syn = dog.filter(pl.col("relation") == "synonym")["word"].to_list()
    assert "domestic dog" in dog_syn and "dog" not in dog_syn  # readable; the label's own name left out
    car_syn = rel.filter(pl.col("synset") == "car.n.01", pl.col("relation") == "synonym")["word"].to_list()
    assert "automobile" in car_syn and "car" not in car_syn
    assert rel.equals(rel.sort("synset", "relation", "depth", "word", "target_synset"))
    assert json.loads((tmp_path / "source.json").read_text())["version"] == "3.0"


def test_override_and_curated_map_win_and_bad_names_are_errors(wn, tmp_path):
    m, _ = _build(tmp_path, ["Bass", "Thunder", "Dog", "Tree falling", "Drum machine", "Zzyzx"],
                  overrides={"Bass": "bass.n.07", "Dog": "puppy.n.01"}, curated_map="builtin")
    assert (m["Bass"]["synset"], m["Bass"]["method"]) == ("bass.n.07", "override")
    assert (m["Dog"]["synset"], m["Dog"]["method"]) == ("puppy.n.01", "override")  # an override beats the map
    assert (m["Thunder"]["synset"], m["Thunder"]["method"]) == ("thunder.n.02", "curated")
    assert "builtin curated map (event)" in m["Thunder"]["reason"]
    # a label the map excludes stays unmapped with the map's reason; one it lacks goes to WordNet's senses
    assert m["Tree falling"]["synset"] is None and "builtin curated map excludes it" in m["Tree falling"]["reason"]
    assert m["Drum machine"]["method"] == "unmapped" and "head noun" in m["Drum machine"]["reason"]
    assert m["Zzyzx"]["method"] == "unmapped"
    m, _ = _build(tmp_path, ["Orchestra", "Acoustic_guitar"], curated_map="audioset")  # FSD50K's spelling too
    assert m["Orchestra"]["synset"] == "orchestra.n.01" and m["Acoustic_guitar"]["method"] == "curated"
    with pytest.raises(ShardError, match=r"wordnet\.overrides\.Dog"):
        _build(tmp_path, ["Dog"], overrides={"Dog": "dogg.n.01"})
    with pytest.raises(ShardError, match="wordnet.overrides.Dog"):
        _build(tmp_path, ["Dog"], overrides={"Dog": "dog.n.99"})
    # a bad map row ships with the package: the fix the user can make is an override
    bad = {"Thunder": {"synset": "thunder.n.99", "role": "event", "reason": None, "note": None}}
    with pytest.raises(ShardError, match=r"mine curated map, row 'Thunder'.*'thunder\.n\.99'.*"
                                         r"setting wordnet\.overrides\.Thunder"):
        S.map_labels(wn, ["Thunder"], {}, bad, "mine")
    table = S.map_labels(wn, ["Thunder"], {"Thunder": "thunder.n.02"}, bad, "mine")
    assert table.row(0, named=True)["method"] == "override"


def test_meronyms_inherited_and_two_hop_hypernyms(wn):
    skip = set(WORDNET_CFG["skip_hypernyms"])

    def rows(name, relation):
        return {(r["target_synset"], r["depth"]) for r in M.synset_relations(wn.synset(name), skip, 6)
                if r["relation"] == relation}

    assert {("rotor.n.03", 0), ("blade.n.08", 0)} <= rows("helicopter.n.01", "meronym")
    bird = rows("bird.n.01", "meronym")
    assert {("wing.n.01", 0), ("beak.n.02", 0), ("syrinx.n.02", 0)} <= bird
    crow = rows("crow.n.01", "meronym")  # crow -> corvine bird -> oscine -> passerine -> bird: inherited, 4 up
    assert {("wing.n.01", 4), ("beak.n.02", 4)} <= crow and max(d for _, d in crow) <= MERONYM_DEPTH
    assert "bird.n.02" not in {t for t, _ in bird | crow}  # "bird, fowl" the flesh: named like the whole
    assert "beef.n.02" not in {t for t, _ in rows("cattle.n.01", "meronym")}  # meat (noun.food): no part one hears
    assert rows("thunder.n.01", "meronym") == set()  # a sound has no parts
    words = {r["word"] for r in M.synset_relations(wn.synset("helicopter.n.01"), skip, 6) if r["relation"] == "meronym"}
    assert {"rotor", "blade"} <= words

    dog = rows("dog.n.01", "hypernym2")
    assert wn.synset("carnivore.n.01") in wn.synset("canine.n.02").hypernyms()
    assert ("carnivore.n.01", 2) in dog and {d for _, d in dog} == {2}
    direct = {p.name() for p in parents(wn.synset("dog.n.01"))}
    assert not {t for t, _ in dog} & direct  # never also one step up by another path
    assert not {t for t, _ in rows("dog.n.01", "hypernym2")} & skip

    # what a crow has, by every inherited path: its parts, their parts, and what those are kinds of
    has = {s.name() for s in part_closure(wn.synset("crow.n.01"))}
    assert {"wing.n.01", "feather.n.01", "organ.n.01"} <= has  # organ: what a wing is a kind of
    assert "rotor.n.03" not in has and "paw.n.01" not in has
