"""Corpus adapters: every corpus becomes the same two tables (docs/formats.md, "Corpus adapters").

    segments, rejects = load_segments(corpus_cfg, clips_cfg, seed, workdir)

`segments` has one row per labelled event (recording_id, path, labels, onset, offset, source,
licence); `rejects` holds the rows an adapter could not use, with a reason. The clips stage decodes
and cuts; adapters never read audio samples.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Iterable

import polars as pl

from ..common import ShardError

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
REJECT_REASONS = ("missing", "outside_root", "duplicate_id", "unknown_label", "bad_time", "corrupt", "empty",
                  "truncated", "unsupported", "silent", "nan", "too_short")

# kind -> "module:function" (imported lazily: sfx needs a Debian package, synth needs nothing).
ADAPTERS = {
    "synth": "synth:load_segments",
    "sfx": "sfx:load_segments",
    "audioset": "tables:audioset",
    "audioset_strong": "tables:audioset_strong",
    "esc50": "tables:esc50",
    "fsd50k": "tables:fsd50k",
    "manifest": "tables:manifest",
}


def segments_frame(rows: Iterable[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=SEGMENT_SCHEMA)


def rejects_frame(rows: Iterable[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=REJECT_SCHEMA)


def _adapter(kind: str):
    if kind not in ADAPTERS:
        raise ShardError(f"config key 'corpus.kind': unknown corpus '{kind}'; use one of {sorted(ADAPTERS)}")
    module, func = ADAPTERS[kind].split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), func)


def load_segments(corpus_cfg: dict, clips_cfg: dict, seed: int, workdir: str | Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read (or, for synth, render) the corpus named by corpus_cfg['kind']."""
    segments, rejects = _adapter(corpus_cfg["kind"])(corpus_cfg, clips_cfg, seed, Path(workdir))
    return segments.cast(SEGMENT_SCHEMA), rejects.cast(REJECT_SCHEMA)


def synset_hints(corpus_cfg: dict) -> dict[str, str]:
    """label -> intended WordNet synset name (method "ontology_hint" of the wordnet stage)."""
    kind = corpus_cfg["kind"]
    if kind == "synth":
        from .synth import synset_table
        return synset_table((corpus_cfg.get("synth") or {}).get("classes"))
    if kind in ("audioset", "audioset_strong", "esc50", "fsd50k", "sfx"):
        from .tables import COMMON_HINTS
        return dict(COMMON_HINTS)
    return {}
