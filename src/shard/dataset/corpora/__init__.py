"""Corpus adapters: every corpus becomes the same two tables (docs/formats.md, "Corpus adapters").

    segments, rejects = load_segments(corpus_cfg, seed, files_dir)

`segments` has one row per labelled event (recording_id, path, labels, onset, offset, source,
licence); `rejects` holds the rows an adapter could not use, with a reason. The clips stage decodes
and cuts; adapters never read audio samples. The `corpus` rule writes both tables with every path
relative to the corpus's audio root (`audio_root`): corpus.root for data on disk, the rule's own
`files` folder for corpora it generates (synth renders there, sfx unpacks there), so nothing written
names the folder the project or the data sits in. Each corpus kind is one record (`kinds.CorpusKind`:
its adapter, licence, default file names, ...), registered in `kinds`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import polars as pl

from shard.dataset.corpora.kinds import CORPUS_KINDS, CorpusKind, corpus_kind  # noqa: F401 (the registry)

SEGMENT_SCHEMA = {
    "recording_id": pl.String,
    "path": pl.String,
    "labels": pl.List(pl.String),
    "onset": pl.Float64,
    "offset": pl.Float64,
    "source": pl.String,
    "licence": pl.String,
}
REJECT_SCHEMA = {
    "path": pl.String,
    "recording_id": pl.String,
    "clip_id": pl.String,
    "reason": pl.String,
    "detail": pl.String,
}
REJECT_REASONS = ("missing", "not_a_file", "outside_root", "duplicate_id", "unknown_label", "bad_time", "corrupt", "empty",
                  "truncated", "unsupported", "silent", "nan", "too_short")


def segments_frame(rows: Iterable[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=SEGMENT_SCHEMA)


def rejects_frame(rows: Iterable[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=REJECT_SCHEMA)


def load_segments(corpus_cfg: dict, seed: int, workdir: str | Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read (or, for synth, render) the corpus named by corpus_cfg['kind'], through its record's adapter."""
    segments, rejects = corpus_kind(corpus_cfg).load_segments(corpus_cfg, seed, Path(workdir))
    return segments.cast(SEGMENT_SCHEMA), rejects.cast(REJECT_SCHEMA)


def audio_root(corpus_cfg: dict, files_dir: str | Path) -> Path:
    """The folder the segments' relative paths start from."""
    return Path(files_dir if corpus_kind(corpus_cfg).generated else corpus_cfg["root"]).resolve()


def build_corpus(*, segments, rejects, files, corpus: dict, seed: int) -> None:
    """Rule `corpus`: the adapter's segments and rejects, paths relative to `audio_root`."""
    from shard.common import write_parquet

    Path(files).mkdir(parents=True, exist_ok=True)
    found, bad = load_segments(corpus, seed, files)
    root = str(audio_root(corpus, files)) + os.sep
    relative = pl.col("path").str.strip_prefix(root)
    write_parquet(found.with_columns(relative).sort("path", "onset", "offset", nulls_last=False), segments)
    write_parquet(bad.with_columns(relative), rejects)


def curated_map_name(corpus_cfg: dict, wordnet_cfg: dict) -> str | None:
    """`wordnet.curated_map`: auto (the corpus kind's map), none, or a map named outright (e.g. urbansound8k
    for an UrbanSound8K manifest)."""
    chosen = wordnet_cfg["curated_map"]
    if chosen == "auto":
        return corpus_kind(corpus_cfg).curated_map
    return None if chosen == "none" else chosen
