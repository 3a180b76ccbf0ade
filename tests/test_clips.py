"""Clip extraction: every reject reason, one decode per file, cutting, splits, determinism."""
from __future__ import annotations

import logging
import re

import numpy as np
import polars as pl
import pytest

import shard.dataset.audio
from shard.dataset.clips import CLIP_SCHEMA, fit_length
from shard.dataset.shards import cut_ranges
from shard.common import ShardError
from shard.dataset.corpora import REJECT_REASONS, REJECT_SCHEMA
from tests.fixtures import (build, make_audioset_strong, make_manifest, synth_corpus, write_audio,
                            write_bad)


def manifest_corpus(root):
    return {"kind": "manifest", "root": str(root), "files": {}, "label_map": {}}


def every_reject_corpus(tmp_path):
    """A manifest corpus with every reject reason, three good formats and a few usable events."""
    root = tmp_path / "corpus"
    for kind in ("corrupt", "empty", "truncated", "silent", "nan"):
        write_bad(root / "bad" / f"{kind}.wav", kind)
    write_bad(root / "bad" / "notes.txt", "unsupported")
    good = {ext: write_audio(root / "fmt" / f"tone.{ext}", 1.2, sr=sr, channels=ch)
            for ext, sr, ch in (("flac", 22050, 2), ("ogg", 16000, 1), ("mp3", 44100, 1))}
    write_audio(tmp_path / "outside.wav")
    extra = [{"path": f"bad/{k}.wav", "label": "Dog", "start": None, "end": None}
             for k in ("corrupt", "empty", "truncated", "silent", "nan")]
    extra += [{"path": "bad/notes.txt", "label": "Dog", "start": None, "end": None}]
    extra += [{"path": f"fmt/{p.name}", "label": "Tone", "start": None, "end": None} for p in good.values()]
    extra += [{"path": "audio/dog_0.wav", "label": "Dog", "start": 0.2, "end": 0.3},    # too short
              {"path": "audio/dog_0.wav", "label": "Dog", "start": 0.5, "end": 3.0},    # past the end
              {"path": "audio/dog_0.wav", "label": "Dog", "start": 0.1, "end": 0.6},
              {"path": "audio/dog_0.wav", "label": "Dog", "start": 0.1, "end": 0.6},    # duplicate
              {"path": "../outside.wav", "label": "Dog", "start": None, "end": None},
              {"path": "audio/gone.wav", "label": "Dog", "start": None, "end": None},
              {"path": "folder.wav", "label": "Dog", "start": None, "end": None},      # a directory
              {"path": "bad/garbage.mp3", "label": "Dog", "start": None, "end": None},
              {"path": "audio/cat_1.wav", "label": None, "start": 0.0, "end": 0.5},
              {"path": "audio/cat_0.wav", "label": "Cat", "start": -0.5, "end": 0.5},   # negative onset
              {"path": "audio/cat_0.wav", "label": "Cat", "start": 0.6, "end": 0.4}]    # onset after offset
    (root / "folder.wav").mkdir(parents=True)
    (root / "bad" / "garbage.mp3").write_bytes(b"this is not an mp3 at all" * 40)
    make_manifest(root, labels=("Dog", "Cat"), per_label=2, extra_rows=extra)
    return root


def test_every_reject_reason_and_the_good_formats(tmp_path, caplog):
    root = every_reject_corpus(tmp_path)
    with caplog.at_level(logging.INFO, logger="shard"):
        clips, audio, rejects = build(tmp_path / "results", manifest_corpus(root))
    assert dict(rejects.schema) == REJECT_SCHEMA and dict(clips.schema) == CLIP_SCHEMA
    by_path = {(p.split("/")[-1], r) for p, r in zip(rejects["path"], rejects["reason"])}
    assert {("corrupt.wav", "corrupt"), ("empty.wav", "empty"), ("truncated.wav", "truncated"),
            ("silent.wav", "silent"), ("nan.wav", "nan"), ("notes.txt", "unsupported"),
            ("outside.wav", "outside_root"), ("gone.wav", "missing"), ("cat_1.wav", "unknown_label"),
            ("folder.wav", "not_a_file"), ("garbage.mp3", "corrupt"),
            ("dog_0.wav", "duplicate_id")} <= by_path
    dog0 = rejects.filter(pl.col("path").str.ends_with("dog_0.wav"))
    assert sorted(dog0["reason"]) == ["duplicate_id", "too_short", "truncated"]
    cat0 = rejects.filter(pl.col("path").str.ends_with("cat_0.wav"))
    assert cat0["reason"].to_list() == ["bad_time", "bad_time"]
    assert all("0 <= onset < offset" in d for d in cat0["detail"])
    assert cat0["clip_id"].sort().to_list() == ["audio_cat_0.wav_-000500_0000500", "audio_cat_0.wav_0000600_0000400"]
    assert set(rejects["reason"]) == set(REJECT_REASONS)  # all reasons of docs/formats.md
    # every detail says what was found and what to do; a decoder's empty message still names the error
    detail = dict(zip(rejects["path"], rejects["detail"]))
    assert "is a directory, not an audio file" in detail["folder.wav"]
    assert re.search(r"mp3.*\(\w+(: .+)?\).*re-encode", detail["bad/garbage.mp3"])
    assert "not found under corpus.root" in detail["audio/gone.wav"] and "manifest" in detail["audio/gone.wav"]
    assert not any(d.endswith(": ") or d.endswith(":") for d in rejects["detail"])
    # usable: 4 whole files, 3 formats (resampled, mixed to mono), one cut event
    assert clips.height == 8 and audio.shape == (8, 16000) and audio.dtype == np.int16
    assert set(clips.filter(pl.col("label") == "Tone")["duration"].round(3)) == {1.2}
    assert "rejected" in caplog.text and "corrupt" in caplog.text


def test_each_source_file_is_decoded_once(tmp_path, monkeypatch):
    root = make_audioset_strong(tmp_path / "strong")  # 2 files, 4 events
    calls = []
    real = shard.dataset.audio.load_audio
    monkeypatch.setattr(shard.dataset.audio, "load_audio", lambda path, sr: calls.append(path) or real(path, sr))
    corpus = {"kind": "audioset_strong", "root": str(root), "files": {}, "label_map": {}}
    clips, _, rejects = build(tmp_path / "results", corpus)
    assert clips.height == 4 and rejects.height == 0
    assert sorted(calls) == sorted({root / p for p in clips["path"]}) and len(calls) == 2
    assert not any(p.startswith("/") for p in clips["path"])  # relative to corpus.root: no folder of this machine


def test_cut_centres_and_pads(tmp_path):
    root = tmp_path / "c"
    write_audio(root / "audio" / "long.wav", 3.0)
    make_manifest(root, labels=(), extra_rows=[{"path": "audio/long.wav", "label": "A", "start": 1.0, "end": 1.5},
                                               {"path": "audio/long.wav", "label": "A", "start": 0.0, "end": 3.0}])
    clips, audio, _ = build(tmp_path / "results", manifest_corpus(root))
    short = audio[clips.filter(pl.col("duration") == 0.5)["row"][0]]
    assert not short[:3999].any() and not short[-3999:].any() and short[4000:12000].any()
    long = audio[clips.filter(pl.col("duration") == 3.0)["row"][0]].astype(float) / 32767
    assert np.allclose(long, 0.3 * np.sin(2 * np.pi * 440 * (np.arange(16000) + 16000) / 16000), atol=1e-3)
    assert fit_length(np.arange(10), 4).tolist() == [3, 4, 5, 6]
    assert fit_length(np.ones(2), 5).tolist() == [0, 1, 1, 0, 0]


def test_split_by_recording_stratified_and_capped(tmp_path):
    clips, _, _ = build(tmp_path / "results", synth_corpus(("Dog", "Siren", "Piano"), scenes=4, events=3),
                        test_fraction=0.3)
    sides = clips.group_by("recording_id").agg(pl.col("split").n_unique())
    assert (sides["split"] == 1).all()  # a recording lies on one side only
    per_label = clips.group_by("label").agg(pl.col("split").unique().sort())
    assert all(s.to_list() == ["test", "train"] for s in per_label["split"])
    assert clips["row"].to_list() == list(range(clips.height)) and clips["clip_id"].is_sorted()
    capped, audio, _ = build(tmp_path / "capped", synth_corpus(("Dog", "Siren", "Piano"), scenes=4, events=3),
                             max_per_label=5)
    assert capped.group_by("label").len()["len"].to_list() == [5, 5, 5] and audio.shape[0] == 15
    assert set(capped["clip_id"]) <= set(clips["clip_id"])


def test_two_builds_are_byte_identical(tmp_path):
    corpus = synth_corpus(("Dog", "Speech"), scenes=2, events=2, seconds=2.0)
    results = tmp_path / "results"
    build(results, corpus, seed=3)
    names = ("clips.parquet", "rejects.parquet", "index.parquet", "plan.json", "shards/0.npy", "shards/0.parquet")
    first = {n: (results / "clips" / n).read_bytes() for n in names}
    build(results, corpus, seed=3)
    assert all((results / "clips" / n).read_bytes() == b for n, b in first.items())


def test_no_usable_clip_names_corpus_and_reason(tmp_path):
    root = tmp_path / "c"
    for i in range(3):
        write_bad(root / f"s{i}.wav", "silent")
    make_manifest(root, labels=(), extra_rows=[{"path": f"s{i}.wav", "label": "A", "start": None, "end": None}
                                               for i in range(3)])
    with pytest.raises(ShardError, match=r"corpus 'manifest': no usable clip; commonest reject reason 'silent' \(3 of 3\)"):
        build(tmp_path / "results", manifest_corpus(root))
    assert pl.read_parquet(tmp_path / "results" / "clips" / "rejects.parquet").height == 3


def test_no_test_clip_stops_the_workflow_naming_counts_and_fix(tmp_path):
    """One recording per label: every clip is on the train side, and no item nor evaluation can be made."""
    root = make_manifest(tmp_path / "c", labels=("Dog", "Cat"), per_label=1)
    with pytest.raises(ShardError, match=r"corpus 'manifest': 0 test clips of 2 \(recordings per label: Cat: 1, "
                                         r"Dog: 1\); .* 2 recordings or more: add recordings"):
        build(tmp_path / "results", manifest_corpus(root), min_test_clips=1)  # as the workflow builds them
    clips, _, _ = build(tmp_path / "results", manifest_corpus(root))  # enough for clips and features
    assert set(clips["split"]) == {"train"}


def test_rejects_written_empty_with_schema(tmp_path):
    root = make_manifest(tmp_path / "c", labels=("A",), per_label=2)
    build(tmp_path / "r", manifest_corpus(root))
    rejects = pl.read_parquet(tmp_path / "r" / "clips" / "rejects.parquet")
    assert rejects.height == 0 and dict(rejects.schema) == REJECT_SCHEMA


def test_recording_with_several_files_keeps_takes_together(tmp_path):
    from tests.fixtures import make_esc50
    root = make_esc50(tmp_path / "esc", categories=("dog", "rain"), sources_per_category=3, takes=2)
    corpus = {"kind": "esc50", "root": str(root), "files": {}, "label_map": {}}
    clips, audio, _ = build(tmp_path / "results", corpus, test_fraction=0.4)
    assert clips.height == 12 and clips["clip_id"].n_unique() == 12
    assert clips["clip_id"][0] == "100000_1-100000-A-0_0000000_0001000"
    assert (clips.group_by("recording_id").agg(pl.col("split").n_unique())["split"] == 1).all()
    assert set(clips["split"]) == {"train", "test"}


# ---------------------------------------------------------------- shards (clips.shards)
def test_plan_cuts_sorted_files_into_contiguous_ranges():
    """Ranges cover every file once, in order, balanced by segments; a file (however many segments) is never
    split, and more shards than files leaves some empty."""
    per_file = [3, 1, 1, 5, 2, 1, 1, 2]
    for n in (1, 2, 3, 5, 8):
        ranges = cut_ranges(per_file, n)
        assert len(ranges) == n and ranges[0][0] == 0 and ranges[-1][1] == len(per_file)
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))  # contiguous
        assert all(a <= b for a, b in ranges)
    assert cut_ranges(per_file, 1) == [(0, 8)]
    assert [sum(per_file[a:b]) for a, b in cut_ranges(per_file, 2)] == [10, 6]  # ~ half of 16 each, whole files
    assert cut_ranges([100, 1], 3) == [(0, 1), (1, 1), (1, 2)]  # one big file: a shard may be empty
    assert sum(b - a for a, b in cut_ranges([1, 1], 4)) == 2


def test_any_number_of_shards_gives_the_same_clips_and_rejects(tmp_path):
    """Every file of the plan lies in one shard; clips.parquet, rejects.parquet and each clip's audio are the
    same for 1 and 4 shards (duplicates, rejects, caps and the split are decided at the gather); only the
    index and the shard files differ."""
    import json

    root = every_reject_corpus(tmp_path)
    one, audio_one, _ = build(tmp_path / "one", manifest_corpus(root), max_per_label=3)
    four, audio_four, _ = build(tmp_path / "four", manifest_corpus(root), max_per_label=3, shards=4)
    for name in ("clips.parquet", "rejects.parquet"):
        assert (tmp_path / "one" / "clips" / name).read_bytes() == (tmp_path / "four" / "clips" / name).read_bytes()
    assert audio_one.tobytes() == audio_four.tobytes()
    plan = json.loads((tmp_path / "four" / "clips" / "plan.json").read_text())
    assert plan["shards"] == 4 and len(plan["ranges"]) == 4
    segments = pl.read_parquet(tmp_path / "four" / "corpus" / "segments.parquet")
    files = sorted(segments["path"].unique())
    shard_of = {}
    for r in plan["ranges"]:
        shard_files = pl.read_parquet(tmp_path / "four" / "clips" / "shards" / f"{r['shard']}.parquet")
        rejected = pl.read_parquet(tmp_path / "four" / "clips" / "shards" / f"{r['shard']}.rejects.parquet")
        for path in set(shard_files["path"]) | set(rejected["path"]):
            assert shard_of.setdefault(path, r["shard"]) == r["shard"]  # no file in two shards
        if r["files"]:  # its files: exactly the sorted files from its first to its last
            inside = files[files.index(r["first"]):files.index(r["last"]) + 1]
            assert len(inside) == r["files"] and set(inside) == {p for p, k in shard_of.items() if k == r["shard"]}
    assert sum(r["segments"] for r in plan["ranges"]) == segments.height
    index = pl.read_parquet(tmp_path / "four" / "clips" / "index.parquet")
    assert index["clip_id"].to_list() == four["clip_id"].to_list() and index["shard"].n_unique() > 1
