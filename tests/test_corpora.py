"""Corpus adapters: each format through its generated fixture, adapter-level rejects, synth."""
from __future__ import annotations

import copy
import hashlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import soundfile as sf
import yaml

from shard.common import ShardError
from shard.config import schema, validate_config
from shard.dataset.corpora import (CORPUS_KINDS, REJECT_SCHEMA, SEGMENT_SCHEMA, CorpusKind, corpus_kind, curated_map_name,
                           label_maps, load_segments)
from shard.dataset.corpora import on_disk, sfx, synth
from shard.dataset.corpora.kinds import corpus_files
from tests.fixtures import (ROOT, build, copy_project, make_audioset, make_audioset_strong, make_esc50, make_fsd50k,
                            make_manifest, make_opensfx_cat, snakemake, synth_corpus, tiny_manifest_project, tone,
                            write_audio)


def corpus(kind, **keys):
    """A `corpus` config section as validation leaves it: every key present (the schema's defaults)."""
    return {"kind": kind, "root": None, "files": {}, "label_map": {}, **keys}


def load(kind, root, tmp_path, **cfg):
    seg, rej = load_segments(corpus(kind, root=str(root), **cfg), 0, tmp_path / "work")
    assert dict(seg.schema) == SEGMENT_SCHEMA and dict(rej.schema) == REJECT_SCHEMA
    return seg, rej


def reasons(rej):
    return dict(zip(rej["recording_id"], rej["reason"]))


def test_audioset_weak_labels_and_rejects(tmp_path):
    root = make_audioset(tmp_path / "as", segments=[
        ("dogAAAAAAA1", ["/m/0bt9lr"]), ("mixAAAAAAA1", ["/m/0bt9lr", "/m/09x0r"]),
        ("dogAAAAAAA1", ["/m/0bt9lr"]),                 # listed twice
        ("unkAAAAAAA1", ["/m/nonexistent"]),            # MID not in the class CSV
    ])
    (root / "audio" / "gone_AAAAA1.flac").unlink(missing_ok=True)
    with open(root / "balanced_train_segments.csv", "a") as fh:
        fh.write('gone_AAAAA1, 0.000, 10.000, "/m/01yrx"\n')  # no audio file
    seg, rej = load("audioset", root, tmp_path)
    assert seg["recording_id"].to_list() == ["dogAAAAAAA1", "mixAAAAAAA1"]
    assert seg["labels"].to_list() == [["Dog"], ["Dog", "Speech"]]
    assert seg["onset"].is_null().all() and seg["path"].str.ends_with(".flac").all()
    assert reasons(rej) == {"dogAAAAAAA1": "duplicate_id", "unkAAAAAAA1": "unknown_label", "gone_AAAAA1": "missing"}
    assert "/m/nonexistent" in rej.filter(pl.col("reason") == "unknown_label")["detail"][0]


def test_audioset_label_map_and_files_override(tmp_path):
    root = make_audioset(tmp_path / "as")
    (root / "balanced_train_segments.csv").rename(root / "my_segments.csv")
    seg, _ = load("audioset", root, tmp_path, files={"segments": "my_segments.csv"},
                  label_map={"/m/01yrx": "Domestic cat"})
    assert ["Domestic cat"] in seg["labels"].to_list()
    with pytest.raises(ShardError, match="corpus.files.segmnts"):
        load("audioset", root, tmp_path, files={"segmnts": "x.csv"})
    with pytest.raises(ShardError, match="corpus.files.segments"):
        load("audioset", root, tmp_path)  # the default file name no longer exists


def test_segments_gathered_in_chunks_are_the_same_table(tmp_path, monkeypatch):
    """finish turns every CHUNK segments into a frame (memory at AudioSet's size): chunks of one or two rows give
    the same segments and rejects, in the same order, as one chunk."""
    from shard.dataset.corpora import on_disk

    root = make_audioset(tmp_path / "as", segments=[
        ("dogAAAAAAA1", ["/m/0bt9lr"]), ("mixAAAAAAA1", ["/m/0bt9lr", "/m/09x0r"]), ("dogAAAAAAA1", ["/m/0bt9lr"]),
        ("dogAAAAAAA2", ["/m/0bt9lr"]), ("unkAAAAAAA1", ["/m/nonexistent"]), ("catAAAAAAA1", ["/m/09x0r"])])
    whole = load("audioset", root, tmp_path / "a")
    for chunk in (1, 2):
        monkeypatch.setattr(on_disk, "CHUNK", chunk)
        seg, rej = load("audioset", root, tmp_path / f"c{chunk}")
        assert seg.equals(whole[0]) and rej.equals(whole[1]) and seg.height == 4


def test_audioset_strong_mids_names_multilabel_and_duplicates(tmp_path):
    rows = [("segA_30000", 0.5, 1.5, "/m/0bt9lr"), ("segA_30000", 2.0, 3.0, "Cat"),
            ("segA_30000", 2.0, 3.0, "Cat"),                                   # exact repeat
            ("segB_10000", 2.0, 3.5, "Dog"), ("segB_10000", 2.0, 3.5, "/m/09x0r"),  # one event, two labels
            ("segB_10000", 0.1, 0.9, "/m/xyz")]
    root = make_audioset_strong(tmp_path / "strong", rows)
    seg, rej = load("audioset_strong", root, tmp_path)
    got = {(r["recording_id"], r["onset"]): r["labels"] for r in seg.iter_rows(named=True)}
    assert got == {("segA_30000", 0.5): ["Dog"], ("segA_30000", 2.0): ["Cat"], ("segB_10000", 2.0): ["Dog", "Speech"]}
    assert sorted(rej["reason"]) == ["duplicate_id", "unknown_label"]


def test_esc50_groups_takes_by_source_and_reads_categories(tmp_path):
    root = make_esc50(tmp_path / "esc", categories=("dog", "crying_baby"), sources_per_category=2, takes=2)
    seg, rej = load("esc50", root, tmp_path)
    assert seg.height == 8 and rej.height == 0
    assert set(seg["labels"].list.first()) == {"Dog", "Crying baby"}
    assert seg.group_by("recording_id").len()["len"].to_list() == [2] * 4  # takes A, B share a recording


def test_fsd50k_multilabel_dev_and_eval_with_vocabulary(tmp_path):
    root = make_fsd50k(tmp_path / "fsd")
    with open(root / "ground_truth" / "eval.csv", "a") as fh:
        fh.write('2003,"Meow",\n')  # not in vocabulary.csv
    write_audio(root / "eval_audio" / "2003.wav")
    seg, rej = load("fsd50k", root, tmp_path)
    assert seg.height == 6
    first = seg.filter(pl.col("recording_id") == "1001")["labels"][0].to_list()
    assert first == ["Bark", "Dog", "Domestic animals and pets"]
    assert seg.filter(pl.col("recording_id") == "2002")["path"][0].endswith("eval_audio/2002.wav")
    assert reasons(rej) == {"2003": "unknown_label"}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_manifest_paths_labels_and_rejects(tmp_path, fmt):
    outside = write_audio(tmp_path / "elsewhere.wav")
    root = make_manifest(tmp_path / "m", labels=("Dog", "Cat"), per_label=2, fmt=fmt, extra_rows=[
        {"path": "audio/dog_0.wav", "label": "Dog;Animal", "start": 0.1, "end": 0.6},
        {"path": "audio/dog_0.wav", "label": "Dog;Animal", "start": 0.1, "end": 0.6},   # duplicate
        {"path": "../elsewhere.wav", "label": "Dog", "start": None, "end": None},        # escapes root
        {"path": str(outside), "label": "Dog", "start": None, "end": None},              # absolute, outside
        {"path": "audio/none.wav", "label": "Dog", "start": None, "end": None},          # missing
        {"path": "audio/cat_0.wav", "label": "", "start": 0.0, "end": 0.5},              # no label
    ])
    seg, rej = load("manifest", root, tmp_path)
    assert seg.height == 5
    assert seg.filter(pl.col("onset") == 0.1)["labels"][0].to_list() == ["Dog", "Animal"]
    assert sorted(rej["reason"]) == ["duplicate_id", "missing", "outside_root", "outside_root", "unknown_label"]
    assert seg["licence"].str.starts_with("unknown").all()


def test_bad_rows_are_rejected_naming_file_and_line(tmp_path):
    root = make_manifest(tmp_path / "m", labels=("Dog",), per_label=2)
    with open(root / "manifest.csv", "a") as fh:
        fh.write("audio/dog_1.wav,Dog,abc,0.5\n")  # line 4: start is not a number
        fh.write(",Dog,,\n")                        # line 5: no path
        fh.write("audio/dog_0.wav,Dog,0.1,inf\n")   # line 6: not a finite time
    seg, rej = load("manifest", root, tmp_path)
    assert seg.height == 2 and sorted(rej["reason"]) == ["bad_time", "bad_time", "missing"]
    details = dict(zip(rej["detail"], rej["reason"]))
    bad = [d for d, r in details.items() if r == "bad_time"]
    assert any("manifest.csv' line 4" in d and "'abc' is not a number of seconds" in d for d in bad)
    assert any("line 6" in d and "'inf'" in d for d in bad)
    missing = rej.filter(pl.col("reason") == "missing")
    assert missing["path"][0] is None and "manifest.csv' line 5: no audio path" in missing["detail"][0]
    # strong labels: one bad time rejects that row only
    root = make_audioset_strong(tmp_path / "strong", [("segA_30000", 0.5, 1.5, "Dog")])
    with open(root / "audioset_train_strong.tsv", "a") as fh:
        fh.write("segA_30000\tn/a\t2.0\tCat\n")
    seg, rej = load("audioset_strong", root, tmp_path)
    assert seg["labels"].to_list() == [["Dog"]] and rej["reason"].to_list() == ["bad_time"]
    assert "audioset_train_strong.tsv' line 3: event time 'n/a'" in rej["detail"][0]


@pytest.mark.parametrize("kind, make, table, drop, missing", [
    ("fsd50k", make_fsd50k, "ground_truth/dev.csv", "labels", "['labels']"),
    ("fsd50k", make_fsd50k, "ground_truth/vocabulary.csv", None, "['label']"),
    ("esc50", make_esc50, "meta/esc50.csv", "category", "['category']"),
    ("audioset_strong", make_audioset_strong, "audioset_train_strong.tsv", "label", "['label']"),
    ("audioset", make_audioset, "class_labels_indices.csv", "mid", "['mid']"),
    ("manifest", make_manifest, "manifest.csv", "path", "['path']"),
])
def test_tables_lacking_columns_name_file_columns_and_layout(tmp_path, kind, make, table, drop, missing):
    root = make(tmp_path / kind)
    path = root / table
    sep = "\t" if path.suffix == ".tsv" else ","
    if drop is None:  # headerless vocabulary with a single column
        path.write_text("0\n1\n")
    else:
        pl.read_csv(path, separator=sep, infer_schema=False).drop(drop).write_csv(path, separator=sep)
    with pytest.raises(ShardError) as err:
        load(kind, root, tmp_path)
    assert f"'{path}' lacks column(s) {missing}; expected" in str(err.value)
    assert "corpus.files" in str(err.value)


def test_unreadable_table_is_one_error(tmp_path):
    root = make_fsd50k(tmp_path / "fsd")
    (root / "ground_truth" / "dev.csv").write_text("")
    with pytest.raises(ShardError, match=r"dev.csv' cannot be read .*expected FSD50K ground-truth CSV"):
        load("fsd50k", root, tmp_path)


def test_table_errors_name_the_file(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ShardError, match="esc50.csv"):
        load("esc50", tmp_path / "empty", tmp_path)
    with pytest.raises(ShardError, match="corpus.root"):
        load_segments(corpus("manifest", root=str(tmp_path / "nope")), 0, tmp_path)
    with pytest.raises(ShardError, match="corpus.kind"):
        load_segments(corpus("nope"), 0, tmp_path)


# ---------------------------------------------------------------- sfx
def test_sfx_reads_a_cat_bank_with_titles_and_licences(tmp_path):
    cat = make_opensfx_cat(tmp_path / "bank" / "opensfx.cat", [
        ('"Cow". Original "moo.wav" by "X". Edited by "Wuzzy". License: Creative Commons Zero 1.0.', tone(1.0, 150)),
        ('"Helicopter". By Y. License: Creative Commons Attribution-ShareAlike 3.0 Unported.', tone(1.5, 90)),
        ('"Toyland: Toy factory (1)". By Z. License: Creative Commons Attribution 3.0.', tone(1.0, 600)),
    ])
    seg, rej = load_segments(corpus("sfx", root=str(cat.parent), files={"cat": "opensfx.cat"}), 0,
                             tmp_path / "work")
    assert seg["labels"].to_list() == [["Cow"], ["Helicopter"]]
    assert seg["licence"].str.slice(0, 12).to_list() == ["CC0-1.0 (Ope", "CC-BY-SA-3.0"]
    assert reasons(rej) == {"opensfx_02": "unknown_label"}
    y, sr = sf.read(seg["path"][1])
    assert sr == 16000 and len(y) == 24000


def test_sfx_missing_package_gives_install_hint(tmp_path):
    with pytest.raises(ShardError, match="apt-get install openttd-opensfx"):
        load_segments(corpus("sfx", files={"cat": str(tmp_path / "no.cat")}), 0, tmp_path)


@pytest.mark.skipif(not sfx.DEFAULT_CAT.is_file(), reason="openttd-opensfx not installed")
def test_sfx_installed_bank(tmp_path):
    seg, rej = load_segments(corpus("sfx"), 0, tmp_path)
    assert seg.height + rej.height == 73 and seg.height >= 40
    assert seg["licence"].str.contains("CC").all()
    assert {"Cow", "Sheep", "Helicopter", "Train", "Applause"} <= set(seg["labels"].list.first())


# ---------------------------------------------------------------- synth
def _digests(folder):
    return {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.wav"))}


def test_synth_is_deterministic_and_strongly_labelled(tmp_path):
    corpus = synth_corpus(("Dog", "Guitar", "Speech"), scenes=1, events=3, seconds=3.0)
    seg1, rej = load_segments(corpus, 7, tmp_path / "a")
    seg2, _ = load_segments(corpus, 7, tmp_path / "b")
    assert rej.height == 0 and seg1.height == 9
    assert _digests(tmp_path / "a" / "audio") == _digests(tmp_path / "b" / "audio")
    assert (tmp_path / "a" / "strong_labels.tsv").read_bytes() == (tmp_path / "b" / "strong_labels.tsv").read_bytes()
    load_segments(corpus, 8, tmp_path / "c")
    assert _digests(tmp_path / "a" / "audio") != _digests(tmp_path / "c" / "audio")
    # events lie inside their scene, do not overlap, and are loud against the background
    for (rid,), g in seg1.sort("onset").group_by("recording_id"):
        y, sr = sf.read(g["path"][0])
        assert sr == 16000 and len(y) == 3 * sr
        assert (g["offset"] <= 3.0).all() and (g["onset"].shift(-1).drop_nulls() >= g["offset"].head(2)).all()
        ev = y[int(g["onset"][0] * sr):int(g["offset"][0] * sr)]
        gap = y[:int(g["onset"][0] * sr)] if g["onset"][0] > 0.05 else y[int(g["offset"][-1] * sr):]
        assert np.sqrt(np.mean(ev ** 2)) > 10 * np.sqrt(np.mean(gap ** 2))


def test_synth_reads_back_through_the_strong_label_path(tmp_path):
    seg, _ = load_segments(synth_corpus(("Cat", "Siren"), 1, 2, 2.0), 0, tmp_path)
    strong, _ = load_segments(corpus("audioset_strong", root=str(tmp_path), files={"strong": "strong_labels.tsv"}),
                              0, tmp_path / "x")
    assert seg.drop("source", "licence").equals(strong.drop("source", "licence"))
    header = (tmp_path / "strong_labels.tsv").read_text().splitlines()[0]
    assert header == "segment_id\tstart_time_seconds\tend_time_seconds\tlabel"


def test_synth_full_default_class_list(tmp_path):
    seg, rej = load_segments(synth_corpus(None, scenes=1, events=1, seconds=1.5), 0, tmp_path)
    labels = set(seg["labels"].list.first())
    assert len(labels) >= 24 and rej.height == 0
    assert ((seg["offset"] - seg["onset"]) >= 0.3).all()  # clears clips.min_seconds
    hints = label_maps.resolve("builtin", labels)  # every synth class has its sense in the builtin map
    assert set(hints) == labels and all(re.fullmatch(r"[a-z_\-]+\.n\.\d\d", r["synset"]) for r in hints.values())
    assert hints["Car horn"]["synset"] == "automobile_horn.n.01" and hints["Dog"]["synset"] == "dog.n.01"


def test_synth_rejects_unknown_classes_and_cramped_scenes(tmp_path):
    with pytest.raises(ShardError, match="corpus.synth.classes"):
        load_segments(synth_corpus(("Dog", "Unicorn")), 0, tmp_path)
    with pytest.raises(ShardError, match="scene_seconds"):
        load_segments(synth_corpus(("Dog",), 1, 10, 2.0), 0, tmp_path)


def test_curated_map_by_kind():
    auto = {"curated_map": "auto"}
    assert curated_map_name({"kind": "fsd50k"}, auto) == "audioset"
    assert curated_map_name({"kind": "esc50"}, auto) == "esc50" and curated_map_name({"kind": "sfx"}, auto) == "builtin"
    assert curated_map_name({"kind": "manifest"}, auto) is None
    assert curated_map_name({"kind": "manifest"}, {"curated_map": "urbansound8k"}) == "urbansound8k"
    assert curated_map_name({"kind": "audioset"}, {"curated_map": "none"}) is None
    sfx_labels = {v for v in sfx.TITLE_LABELS.values() if v}
    assert set(label_maps.resolve("builtin", sfx_labels)) == sfx_labels  # every sfx label too
    assert label_maps.resolve("esc50", ["Crying baby"])["Crying baby"]["label"] == "crying_baby"
    assert on_disk.display_label("crying_baby") == "Crying baby"


def test_speech_without_espeak_falls_back_to_formant_babble(monkeypatch):
    from shard.common import rng
    monkeypatch.setattr(synth.shutil, "which", lambda name: None)
    a, b = synth.render_event("Speech", rng(0, "t")), synth.render_event("Speech", rng(0, "t"))
    assert np.array_equal(a, b) and 0.3 * synth.SR < len(a) < 3 * synth.SR
    spectrum = np.abs(np.fft.rfft(a))
    assert spectrum[: len(spectrum) // 4].sum() > spectrum[len(spectrum) // 4:].sum()  # voiced: energy below 2 kHz


# ---------------------------------------------------------------- the corpus kinds: one record each
def test_every_kind_record_points_at_real_code_and_maps():
    assert schema()["properties"]["corpus"]["properties"]["kind"]["enum"] == list(CORPUS_KINDS)
    for kind in CORPUS_KINDS.values():
        assert callable(pkgutil.resolve_name(kind.adapter))
        assert kind.check is None or callable(pkgutil.resolve_name(kind.check))
        assert kind.curated_map is None or kind.curated_map in label_maps.NAMES
        assert kind.generated or kind.needs_root  # the audio is either written here or found under corpus.root
    assert [k for k, v in CORPUS_KINDS.items() if not v.needs_root] == ["synth", "sfx"]
    with pytest.raises(ShardError, match="corpus.kind.*unknown corpus 'nope'"):
        corpus_kind(corpus("nope"))


def test_the_kind_registry_is_light():
    """The Snakefile reads it to check the config: no adapter (nor what adapters import) is imported with it."""
    code = ("import sys; from shard.config import registry_names; registry_names('corpora'); "
            "print(sorted(m for m in sys.modules if m.startswith('shard.dataset.corpora.') or m in ('librosa', 'scipy', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "['shard.dataset.corpora.kinds']"


def read_sound_list(corpus_cfg: dict, seed: int, files_dir: Path):
    """The adapter of a made-up format: a CSV of `file,sound` rows, one labelled recording per file."""
    root, files, kind = on_disk.corpus_root(corpus_cfg), corpus_files(corpus_cfg), corpus_kind(corpus_cfg)
    listing = on_disk.table_file(root, files["list"], "list")
    table = on_disk.read_table(listing, ["file", "sound"], "CSV columns file,sound")
    rows = [{"recording_id": Path(r["file"]).stem, "path": r["file"], "raw_labels": [r["sound"]], "onset": None,
             "offset": None, "key": r["file"]} for r in table.iter_rows(named=True)]
    return on_disk.finish(rows, root, on_disk.label_resolver(corpus_cfg), kind.name, kind.licence)


# a new corpus kind: this record (and its adapter above) is all it takes, once in CORPUS_KINDS
SOUND_LIST = CorpusKind("sound_list", adapter=f"{__name__}:read_sound_list", licence="CC0-1.0 (test sounds)",
                        files={"list": "sounds.csv"})


@pytest.fixture
def sound_list(monkeypatch):
    """SOUND_LIST registered for one test."""
    monkeypatch.setitem(CORPUS_KINDS, SOUND_LIST.name, SOUND_LIST)
    return SOUND_LIST


def test_a_new_corpus_kind_is_one_record(tmp_path, sound_list):
    root = tmp_path / "sounds"
    lines = ["file,sound"]
    for i, label in enumerate(("Dog", "Cat")):
        for j in range(3):
            write_audio(root / f"{label.lower()}_{j}.wav", 1.0, freq=300 + 150 * i + 20 * j)
            lines.append(f"{label.lower()}_{j}.wav,{label}")
    (root / "sounds.csv").write_text("\n".join(lines) + "\n")
    config = copy.deepcopy(yaml.safe_load((ROOT / "config.yaml").read_text()))
    config["corpus"] = {"kind": "sound_list"}
    with pytest.raises(ShardError, match="'corpus.root' is required for corpus.kind=sound_list"):
        validate_config(copy.deepcopy(config))  # the record needs a root
    config["corpus"]["root"] = str(root)
    corpus_cfg = validate_config(config)["corpus"]
    clips, audio, rejects = build(tmp_path / "results", corpus_cfg)  # the corpus and clips stages
    assert clips.height == 6 and audio.shape == (6, 16000) and rejects.height == 0
    assert set(clips["label"]) == {"Dog", "Cat"} and set(clips["split"]) == {"train", "test"}
    assert set(clips["source"]) == {"sound_list"} and set(clips["licence"]) == {"CC0-1.0 (test sounds)"}
    assert not any(p.startswith("/") for p in clips["path"])  # relative to corpus.root, as for every kind
    assert curated_map_name(corpus_cfg, {"curated_map": "auto"}) is None  # no curated map: WordNet's own senses
    # its default file name is the record's, and corpus.files renames it
    (root / "sounds.csv").rename(root / "mine.csv")
    with pytest.raises(ShardError, match="corpus.files.list"):
        load_segments(corpus_cfg, 0, tmp_path / "work")
    segments, _ = load_segments({**corpus_cfg, "files": {"list": "mine.csv"}}, 0, tmp_path / "work")
    assert segments.height == 6


# ---------------------------------------------------------------- a tiny corpus, end to end
@pytest.mark.slow
def test_a_two_label_corpus_of_eight_clips_runs_end_to_end(two_models_on_a_tiny_corpus, tmp_path):
    """A new user's first corpus: 2 labels, 4 recordings each (2 test clips), 2 broken rows. Every stage takes
    it (the run is conftest's `two_models_on_a_tiny_corpus`, shared with the two-model test); what it is too
    small for is n/a with its reason. With one recording per label (no test clip) the run stops at the clips
    stage, naming the counts and the fix."""
    results = two_models_on_a_tiny_corpus / "results"
    clips = pl.read_parquet(results / "clips" / "clips.parquet")
    assert clips.height == 8 and (clips["split"] == "test").sum() == 2
    assert sorted(pl.read_parquet(results / "clips" / "rejects.parquet")["reason"]) == ["corrupt", "missing"]
    artifacts = pl.read_csv(results / "tables" / "artifacts.csv")
    logistic = artifacts.filter(pl.col("baseline") == "logistic")
    assert logistic.height and logistic["not_scored"].str.starts_with("too few distinct item texts for 5 folds").all()
    card = (results / "shard" / "card.md").read_text()
    assert "n/a, too few distinct item texts for 5 folds" in card  # the card includes the audit as it is
    for table in ("semantic", "labelling", "scaling", "perception", "forgetting", "models"):
        assert (results / "tables" / f"{table}.md").stat().st_size > 0, table
    assert (results / "export" / "hf").is_dir() and (results / "shard" / "browser" / "index.html").is_file()

    project = tiny_manifest_project(copy_project(tmp_path / "one_each"), per_label=1)
    out = snakemake(project)
    assert out.returncode != 0
    assert ("corpus 'manifest': 0 test clips of 2 (recordings per label: Cat: 1, Dog: 1)"
            in (project / "results" / "logs" / "clips.log").read_text())
    assert not (project / "results" / "shard").exists()  # stopped before the items
