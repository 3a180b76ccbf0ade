"""Clip extraction (rule `clips`): segments -> fixed-length mono clips, a recording-level split, rejects.

Each source file is decoded exactly once (`shard.dataset.audio.load_audio`); every clip of that file is cut
from the one decode. A bad file or clip is skipped and recorded in rejects.parquet with its reason.
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
from shard.common import ShardError, rng, save_npy, write_parquet
from shard.dataset.corpora import REJECT_SCHEMA, audio_root, rejects_frame

log = logging.getLogger("shard")

CLIP_SCHEMA = {
    "clip_id": pl.String, "recording_id": pl.String, "path": pl.String, "labels": pl.List(pl.String),
    "label": pl.String, "onset": pl.Float64, "offset": pl.Float64, "duration": pl.Float64,
    "split": pl.String, "checksum": pl.String, "source": pl.String, "licence": pl.String, "row": pl.Int64,
}
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
    return pl.Series("split", ["test" if r in test else "train" for r in clips["recording_id"]])


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


def build_clips(*, segments, corpus_rejects, files, clips_parquet, audio, rejects, corpus: dict, clips: dict,
                seed: int, min_test_clips: int = 1) -> pl.DataFrame:
    """Write clips.parquet, audio.npy (int16) and rejects.parquet (the corpus rule's rejects and the
    clips that could not be cut) from the corpus rule's segments. Paths stay relative to the audio root.
    Fewer than `min_test_clips` test clips stop the workflow here: its items and evaluation are made of them
    (tests that only need clips and features pass 0)."""
    cfg = clips
    sr, n = cfg["sample_rate"], int(round(cfg["sample_rate"] * cfg["seconds"]))
    kind = corpus["kind"]
    root = audio_root(corpus, files)
    segments = pl.read_parquet(segments)
    adapter_rejects = pl.read_parquet(corpus_rejects)

    rows, pcm, bad = [], {}, []
    multi_file = set(segments.group_by("recording_id").agg(pl.col("path").n_unique())
                     .filter(pl.col("path") > 1)["recording_id"])
    by_file = segments.sort("path", "onset", "offset", nulls_last=False).partition_by("path", maintain_order=True)
    for group in tqdm(by_file, desc=f"decode {kind}", unit="file", mininterval=5):
        path = group["path"][0]
        try:
            y = audio_io.load_audio(root / path, sr)  # the one decode of this file
        except audio_io.DecodeError as err:
            bad += [{"path": path, "recording_id": s["recording_id"], "clip_id": None, "reason": err.reason,
                     "detail": err.detail} for s in group.iter_rows(named=True)]
            continue
        for seg in group.iter_rows(named=True):
            x, onset, offset, reason, detail = _cut(y, seg, cfg)
            rid = seg["recording_id"]
            # a rejected non-finite time has no clip id (it cannot be written in ms)
            cid = clip_id(rid, onset, offset, path if rid in multi_file else None) \
                if np.isfinite([onset, offset]).all() else None
            if x is None:
                bad.append({"path": path, "recording_id": rid, "clip_id": cid, "reason": reason,
                            "detail": detail})
                continue
            if cid in pcm:
                bad.append({"path": path, "recording_id": rid, "clip_id": cid, "reason": "duplicate_id",
                            "detail": "same recording and times listed twice"})
                continue
            q = np.round(np.clip(fit_length(x, n), -1, 1) * 32767).astype(np.int16)
            pcm[cid] = q
            rows.append({"clip_id": cid, "recording_id": rid, "path": path,
                         "labels": seg["labels"], "label": seg["labels"][0], "onset": onset, "offset": offset,
                         "duration": len(x) / sr, "checksum": hashlib.sha1(q.tobytes()).hexdigest(),
                         "source": seg["source"], "licence": seg["licence"]})

    all_rejects = pl.concat([adapter_rejects, rejects_frame(bad)]).cast(REJECT_SCHEMA)
    all_rejects = all_rejects.sort("path", "clip_id", "reason", nulls_last=False)
    write_parquet(all_rejects, rejects)
    counts = Counter(all_rejects["reason"].to_list())
    log.info("clips: %d usable, %d rejected %s", len(rows), all_rejects.height, dict(sorted(counts.items())))
    if not rows:
        if not counts:
            raise ShardError(f"corpus '{kind}' lists no segments; check corpus.root and corpus.files")
        reason, count = counts.most_common(1)[0]
        example = all_rejects.filter(pl.col("reason") == reason).row(0, named=True)
        raise ShardError(f"corpus '{kind}': no usable clip; commonest reject reason '{reason}' "
                         f"({count} of {all_rejects.height}), e.g. {example['path']}: {example['detail']}")

    table = pl.DataFrame(rows, schema={k: v for k, v in CLIP_SCHEMA.items() if k not in ("split", "row")})
    table = cap_per_label(table, cfg["max_per_label"], seed).sort("clip_id")
    table = table.with_columns(assign_splits(table, cfg["test_fraction"], seed),
                               pl.int_range(pl.len(), dtype=pl.Int64).alias("row")).select(list(CLIP_SCHEMA))
    check_test_clips(table, kind, min_test_clips)
    save_npy(np.stack([pcm[c] for c in table["clip_id"]]), audio)
    write_parquet(table, clips_parquet)
    log.info("clips: %d train, %d test clips, %d labels", (table["split"] == "train").sum(),
             (table["split"] == "test").sum(), table["label"].n_unique())
    return table
