"""Clip extraction: segments -> fixed-length mono clips, a recording-level split, rejects.

Rule `clips_shard` (one job per planned shard, `shard.dataset.shards`) decodes each of its source files
exactly once (`shard.dataset.audio.load_audio`) and cuts every clip of that file from the one decode; a bad
file or clip is recorded with its reason. Rule `clips` gathers the shards' metadata into clips.parquet,
rejects.parquet and the clip index; rule `keep_test_audio` keeps the test clips' audio.
"""
from __future__ import annotations

import hashlib
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
from tqdm import tqdm

from shard.dataset import audio as audio_io
from shard.common import ShardError, rng, write_parquet
from shard.dataset.corpora import REJECT_SCHEMA, audio_root, rejects_frame

log = logging.getLogger("shard")

CLIP_SCHEMA = {
    "clip_id": pl.String, "recording_id": pl.String, "path": pl.String, "labels": pl.List(pl.String),
    "label": pl.String, "onset": pl.Float64, "offset": pl.Float64, "duration": pl.Float64,
    "split": pl.String, "checksum": pl.String, "source": pl.String, "licence": pl.String, "row": pl.Int64,
}
# a shard's candidate clips (rule clips_shard): no split nor row yet, and the clip's row in the shard's audio
SHARD_CLIP_SCHEMA = {**{k: v for k, v in CLIP_SCHEMA.items() if k not in ("split", "row")}, "shard_row": pl.Int64}
# An event may end this far past the end of its file (rounding of label times) before it counts as truncated.
END_TOLERANCE = 0.05


def clip_id(recording_id: str, onset: float, offset: float, path: str | None = None) -> str:
    """Readable and unique: the recording, times in ms, and the file stem when a recording spans
    several files (ESC-50 takes of one source)."""
    base = f"{recording_id}_{Path(path).stem}" if path else recording_id
    return f"{base}_{round(onset * 1000):07d}_{round(offset * 1000):07d}"


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Centre the event in n samples: trim both ends when longer, zero-pad both sides when shorter."""
    if len(x) >= n:
        start = (len(x) - n) // 2
        return x[start:start + n]
    left = (n - len(x)) // 2
    return np.pad(x, (left, n - len(x) - left))


def dbfs(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def _cut(y: np.ndarray, seg: dict, cfg: dict) -> tuple[np.ndarray | None, float, float, str, str]:
    """Cut one segment from a decoded file: (samples or None, onset, offset, reject reason, detail)."""
    sr, file_seconds = cfg["sample_rate"], len(y) / cfg["sample_rate"]
    onset = seg["onset"] if seg["onset"] is not None else 0.0
    offset = seg["offset"] if seg["offset"] is not None else file_seconds
    # A negative onset would index from the end of the array; NaN fails this test too.
    if not 0 <= onset < offset:
        return None, onset, offset, "bad_time", (f"event [{onset}, {offset}] s: times must satisfy "
                                                 "0 <= onset < offset; fix the corpus table's start/end")
    if offset > file_seconds + END_TOLERANCE or onset >= file_seconds:
        return None, onset, offset, "truncated", f"event [{onset:.3f}, {offset:.3f}] s past the end of a {file_seconds:.3f} s file"
    x = y[int(round(onset * sr)):int(round(offset * sr))]
    if len(x) == 0:
        return None, onset, offset, "empty", f"no samples in [{onset:.3f}, {offset:.3f}] s"
    if len(x) < cfg["min_seconds"] * sr:
        return None, onset, offset, "too_short", f"{len(x) / sr:.3f} s < clips.min_seconds={cfg['min_seconds']}"
    level = dbfs(x)
    if level < cfg["silence_dbfs"]:
        return None, onset, offset, "silent", f"{level:.1f} dBFS < clips.silence_dbfs={cfg['silence_dbfs']}"
    return x, onset, offset, "", ""


def assign_splits(clips: pl.DataFrame, test_fraction: float, seed: int) -> pl.Series:
    """'train' | 'test' per clip, drawn per recording and stratified by the recording's first label.

    Every label with >= 2 recordings gets at least one recording on each side.
    """
    recs = (clips.group_by("recording_id").agg(pl.col("label").sort().first())
            .sort("recording_id"))
    test: set[str] = set()
    for label, group in recs.group_by("label"):
        ids = sorted(group["recording_id"])
        if len(ids) < 2:
            continue
        k = min(max(int(round(test_fraction * len(ids))), 1), len(ids) - 1)
        order = rng(seed, "split", label[0]).permutation(len(ids))
        test.update(ids[i] for i in order[:k])
    is_test = clips["recording_id"].is_in(pl.Series(sorted(test), dtype=pl.String).implode())
    return pl.select(pl.when(is_test).then(pl.lit("test")).otherwise(pl.lit("train")).alias("split")).to_series()


def cap_per_label(clips: pl.DataFrame, max_per_label: int | None, seed: int) -> pl.DataFrame:
    """Keep at most max_per_label clips per (first) label: a seeded choice, independent of row order."""
    if not max_per_label:
        return clips
    keep = []
    for (label,), group in clips.sort("clip_id").group_by("label", maintain_order=True):
        ids = group["clip_id"].to_list()
        if len(ids) > max_per_label:
            ids = [ids[i] for i in sorted(rng(seed, "max_per_label", label).choice(len(ids), max_per_label, replace=False))]
        keep += ids
    log.info("clips.max_per_label=%d: kept %d of %d clips", max_per_label, len(keep), clips.height)
    return clips.filter(pl.col("clip_id").is_in(keep))


def check_test_clips(table: pl.DataFrame, kind: str, needed: int) -> None:
    """A benchmark needs test clips: fewer than `needed` is one ShardError naming the counts and the fix."""
    n_test = int((table["split"] == "test").sum())
    if n_test >= needed:
        return
    recordings = table.group_by("label").agg(pl.col("recording_id").n_unique()).sort("label")
    per_label = ", ".join(f"{label}: {n}" for label, n in recordings.iter_rows())
    raise ShardError(f"corpus '{kind}': {n_test} test clips of {table.height} (recordings per label: {per_label}); "
                     "a recording lies on one side of the train/test split, so a label reaches the test side only "
                     "with 2 recordings or more: add recordings to the corpus")


def _cut_file(y: np.ndarray, group: pl.DataFrame, path: str, multi_file: set, cfg: dict):
    """Every segment of one decoded file: yields (clip row or None, int16 samples or None, reject or None)."""
    sr, n = cfg["sample_rate"], int(round(cfg["sample_rate"] * cfg["seconds"]))
    for seg in group.iter_rows(named=True):
        x, onset, offset, reason, detail = _cut(y, seg, cfg)
        rid = seg["recording_id"]
        # a rejected non-finite time has no clip id (it cannot be written in ms)
        cid = clip_id(rid, onset, offset, path if rid in multi_file else None) \
            if np.isfinite([onset, offset]).all() else None
        if x is None:
            yield None, None, {"path": path, "recording_id": rid, "clip_id": cid, "reason": reason, "detail": detail}
            continue
        q = np.round(np.clip(fit_length(x, n), -1, 1) * 32767).astype(np.int16)
        yield ({"clip_id": cid, "recording_id": rid, "path": path, "labels": seg["labels"], "label": seg["labels"][0],
                "onset": onset, "offset": offset, "duration": len(x) / sr,
                "checksum": hashlib.sha1(q.tobytes()).hexdigest(), "source": seg["source"],
                "licence": seg["licence"]}, q, None)


def cut_shard(*, segments, files, plan, audio, shard_clips, shard_rejects, shard: int, corpus: dict,
              clips: dict) -> None:
    """Rule `clips_shard`: decode the files of one planned shard, one at a time, and write their segments straight
    into an int16 array (`audio`, one row per segment, in order; a rejected segment's row stays zero), with the
    shard's candidate clips (`shard_row` locates each) and rejects. Nothing that needs the whole corpus happens
    here: duplicates across files, caps and the split are the gather's (`gather_clips`)."""
    from shard.dataset.shards import npy_rows, shard_segments

    n = int(round(clips["sample_rate"] * clips["seconds"]))
    root = audio_root(corpus, files)
    mine = shard_segments(segments, plan, shard).sort("path", "onset", "offset", nulls_last=False)
    # a recording spread over several files (anywhere in the corpus) names its clips by file too
    my_recordings = mine["recording_id"].unique().implode()
    multi_file = set(pl.scan_parquet(segments).filter(pl.col("recording_id").is_in(my_recordings))
                     .group_by("recording_id").agg(pl.col("path").n_unique()).filter(pl.col("path") > 1)
                     .collect()["recording_id"])
    rows, bad = [], []
    with npy_rows(audio, (mine.height, n), np.int16) as pcm:  # row k: the shard's k-th segment (zeros if rejected)
        for group in tqdm(mine.partition_by("path", maintain_order=True), desc=f"decode {corpus['kind']} shard {shard}",
                          unit="file", mininterval=5):
            path = group["path"][0]
            try:
                y = audio_io.load_audio(root / path, clips["sample_rate"])  # the one decode of this file
            except audio_io.DecodeError as err:
                bad += [{"path": path, "recording_id": r, "clip_id": None, "reason": err.reason,
                         "detail": err.detail} for r in group["recording_id"]]
                pcm.skip(group.height)
                continue
            for row, samples, reject in _cut_file(y, group, path, multi_file, clips):
                if reject:
                    bad.append(reject)
                    pcm.skip(1)
                else:
                    rows.append({**row, "shard_row": pcm.rows})
                    pcm.write(samples[None])
    write_parquet(pl.DataFrame(rows, schema=SHARD_CLIP_SCHEMA), shard_clips)
    write_parquet(rejects_frame(bad).cast(REJECT_SCHEMA), shard_rejects)
    log.info("clips shard %d: %d files, %d segments, %d cut, %d rejected", shard, mine["path"].n_unique(),
             mine.height, len(rows), len(bad))


def _first_of_each_id(candidates: pl.DataFrame, shard_clips: list) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the first clip of each clip_id in file order, the later ones as `duplicate_id` rejects)."""
    first = candidates["clip_id"].is_first_distinct()
    # duplicates are few: their paths are read back from their shards' tables, not held for every clip
    located = [pl.read_parquet(shard_clips[k], columns=["shard_row", "path"]).join(group, on="shard_row")
               for (k,), group in candidates.filter(~first).group_by("shard", maintain_order=True)]
    dupes = pl.concat(located) if located else pl.DataFrame(schema=REJECT_SCHEMA)
    dupes = dupes.select("path", "recording_id", "clip_id", reason=pl.lit("duplicate_id"),
                         detail=pl.lit("same recording and times listed twice"))
    return candidates.filter(first), dupes.cast(REJECT_SCHEMA)


# what the whole-corpus decisions of the gather read of every candidate clip; the other columns are streamed
DECISION_COLUMNS = ["clip_id", "recording_id", "label", "shard_row"]
# clips.parquet is written sorted this many clips at a time (shard.common.sorted_parquet): a range's full rows are
# what the write holds, so it bounds the gather's memory beside the decisions' columns
RANGE_CLIPS = 10_000


def gather_clips(*, corpus_rejects, shard_clips, shard_rejects, clips_parquet, rejects, index, corpus: dict,
                 clips: dict, seed: int, min_test_clips: int = 1) -> None:
    """Rule `clips` (metadata only): the shards' candidate clips and rejects -> clips.parquet, rejects.parquet
    (the corpus rule's rejects and the clips that could not be cut) and index.parquet (clip_id -> shard,
    shard_row). Everything that needs the whole corpus happens here (duplicate ids, per-label caps, the
    recording-level split, the row order), so clips.parquet is the same for any number of shards. Those
    decisions read four columns of every clip; the rest of each clip's row goes from its shard's table to
    clips.parquet a range of clip ids at a time, so memory is the decisions' few columns, not whole rows.
    Fewer than `min_test_clips` test clips stop the workflow here: its items and evaluation are made of them
    (tests that only need clips and features pass 0)."""
    from shard.common import sorted_parquet
    from shard.dataset.shards import INDEX_SCHEMA

    cfg, kind = clips, corpus["kind"]
    # shards in plan order, rows in file order: the order one job decoding every file would see
    candidates = pl.concat([pl.read_parquet(p, columns=DECISION_COLUMNS).with_columns(shard=pl.lit(k, pl.Int64))
                            for k, p in enumerate(shard_clips)], how="vertical")
    candidates, dupes = _first_of_each_id(candidates, shard_clips)
    cut_rejects = pl.concat([pl.read_parquet(p) for p in shard_rejects]).cast(REJECT_SCHEMA)
    # one job used to write rejects in file order with a duplicate right after its file's other rejects;
    # the sort below makes the order of this concatenation irrelevant
    all_rejects = pl.concat([pl.read_parquet(corpus_rejects), cut_rejects, dupes]).cast(REJECT_SCHEMA)
    all_rejects = all_rejects.sort("path", "clip_id", "reason", "recording_id", "detail", nulls_last=False,
                                   maintain_order=True)
    write_parquet(all_rejects, rejects)
    counts = Counter(all_rejects["reason"].to_list())
    log.info("clips: %d usable, %d rejected %s", candidates.height, all_rejects.height, dict(sorted(counts.items())))
    if not candidates.height:
        if not counts:
            raise ShardError(f"corpus '{kind}' lists no segments; check corpus.root and corpus.files")
        reason, count = counts.most_common(1)[0]
        example = all_rejects.filter(pl.col("reason") == reason).row(0, named=True)
        raise ShardError(f"corpus '{kind}': no usable clip; commonest reject reason '{reason}' "
                         f"({count} of {all_rejects.height}), e.g. {example['path']}: {example['detail']}")

    table = cap_per_label(candidates, cfg["max_per_label"], seed).sort("clip_id")
    del candidates
    table = table.with_columns(assign_splits(table, cfg["test_fraction"], seed),
                               pl.int_range(pl.len(), dtype=pl.Int64).alias("row"))
    check_test_clips(table, kind, min_test_clips)
    write_parquet(table.select(list(INDEX_SCHEMA)), index)
    kept = table.select("shard", "shard_row", "split", "row")
    cuts = table["clip_id"].gather_every(RANGE_CLIPS).to_list()[1:]
    with sorted_parquet(clips_parquet, by="clip_id", cuts=cuts, schema=CLIP_SCHEMA, buffer_rows=RANGE_CLIPS // 2) as add:
        for k, path in enumerate(shard_clips):
            rows = pl.read_parquet(path).join(kept.filter(pl.col("shard") == k).drop("shard"), on="shard_row")
            add(rows.select(list(CLIP_SCHEMA)))
    log.info("clips: %d train, %d test clips, %d labels, %d shards", (table["split"] == "train").sum(),
             (table["split"] == "test").sum(), table["label"].n_unique(), len(shard_clips))


def build_test_audio(*, clips_parquet, index, shard_audio, test_audio, batch: int = 1024) -> None:
    """Rule `keep_test_audio`: the test clips' int16 audio, in clips.parquet row order (what the browser and the
    export play), read from the shards before their decoded audio is deleted, a batch at a time."""
    from shard.dataset.shards import ShardStore, npy_rows

    shard_audio = list(shard_audio)
    test_ids = test_clip_ids(clips_parquet)
    store = ShardStore(index, lambda k: shard_audio[k])
    shape, dtype = store.row_shape()
    with npy_rows(test_audio, (len(test_ids), *shape), dtype) as out:
        for start in range(0, len(test_ids), batch):
            out.write(store.get(test_ids[start:start + batch]))
    log.info("test audio: %d clips -> %s", len(test_ids), test_audio)


def test_clip_ids(clips_parquet) -> list[str]:
    """The test clips in row order: row i of clips/test_audio.npy holds the i-th."""
    clips = pl.read_parquet(clips_parquet, columns=["clip_id", "split", "row"]).sort("row")
    return clips.filter(pl.col("split") == "test")["clip_id"].to_list()
