"""Corpora on disk, read from their label tables: AudioSet (weak and strong), ESC-50, FSD50K and a plain manifest.

Each adapter is a small function that turns its table into candidate rows; `finish` is the one
reader path they share: it resolves paths, checks them, and splits the rows into segments and
rejects (missing, outside_root, bad_time, duplicate_id, unknown_label). Every table file is read
through `read_table`, so a file that lacks a column is one ShardError naming it and its layout.
The synth corpus writes an AudioSet-strong table and reads it back through `read_strong`, exactly
like real strong labels.
"""
from __future__ import annotations

import csv
import hashlib
import math
import os
from pathlib import Path
from typing import Callable, Iterable

import polars as pl

from shard.dataset.audio import AUDIO_EXTENSIONS
from shard import common
from shard.common import ShardError
from shard.dataset.corpora import rejects_frame, segments_frame
from shard.dataset.corpora.kinds import corpus_files, corpus_kind

# ---------------------------------------------------------------- shared helpers
def display_label(label: str) -> str:
    """'crying_baby' -> 'Crying baby'; readable labels start upper-case and use spaces."""
    text = common.readable(label).strip()
    return text[:1].upper() + text[1:]


def corpus_root(corpus_cfg: dict) -> Path:
    root = corpus_cfg["root"]
    if not root or not Path(root).is_dir():
        raise ShardError(f"config key 'corpus.root': '{root}' is not a directory; "
                         f"point it at the {corpus_cfg['kind']} corpus")
    return Path(root).resolve()


def table_file(root: Path, name: str, key: str) -> Path:
    path = root / name
    if not path.is_file():
        raise ShardError(f"corpus file '{path}' does not exist; set config key 'corpus.files.{key}' "
                         f"to its path relative to corpus.root")
    return path


def audio_index(folder: Path) -> dict[str, str]:
    """file stem -> path (a string: a Path object per file would take hundreds of MB at AudioSet's 2 million files)
    of every audio file under `folder` (first in sorted order wins)."""
    index: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            stem, ext = os.path.splitext(name)
            if ext.lower() in AUDIO_EXTENSIONS:
                index.setdefault(stem, os.path.join(dirpath, name))
    return index


def require_columns(table: pl.DataFrame, path: Path, need: Iterable[str], layout: str) -> pl.DataFrame:
    """`table` (read from `path`) when it has every column in `need`, else one ShardError naming the
    file, the missing columns and the expected layout."""
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise ShardError(f"corpus table '{path}' lacks column(s) {missing}; expected {layout} "
                         f"(it has {table.columns}); fix the file or point corpus.files at the right one")
    return table


def read_table(path: Path, need: Iterable[str], layout: str, **read_csv) -> pl.DataFrame:
    """A corpus table (CSV/TSV as text, or Parquet) with the columns `need`; unreadable is a ShardError."""
    try:
        table = pl.read_parquet(path) if path.suffix == ".parquet" else \
            pl.read_csv(path, infer_schema=False, **read_csv)
    except (pl.exceptions.PolarsError, OSError) as err:
        why = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ShardError(f"corpus table '{path}' cannot be read ({why}); expected {layout}") from err
    return require_columns(table, path, need, layout)


def class_names(path: Path) -> dict[str, str]:
    """AudioSet class_labels_indices.csv (index,mid,display_name) -> {mid: display_name}."""
    table = read_table(path, ["mid", "display_name"], "CSV columns index,mid,display_name")
    return dict(zip(table["mid"], table["display_name"]))


def label_resolver(corpus_cfg: dict, names: dict[str, str] | None = None,
                   closed: bool = False) -> Callable[[str], str | None]:
    """raw corpus label -> readable label, or None when unknown.

    corpus.label_map wins; then `names` (e.g. MID -> display name). MIDs ("/m/...") must be known;
    other raw labels are accepted as they are unless `closed` (a vocabulary was given).
    """
    label_map = corpus_cfg["label_map"]
    names = names or {}

    def resolve(raw: str) -> str | None:
        raw = raw.strip()
        if raw in label_map:
            return label_map[raw]
        if raw in names:
            return label_map.get(names[raw], names[raw])
        if not raw or raw.startswith("/") or closed:
            return None
        return display_label(raw)
    return resolve


def _reject(row: dict, reason: str, detail: str) -> dict:
    return {"path": None if row["path"] is None else str(row["path"]), "recording_id": row["recording_id"] or None,
            "clip_id": None, "reason": reason, "detail": detail}


def _where(path: Path, root: Path, i: int) -> str:
    """Data row i (0-based) of a table as its user finds it: a line of a CSV/TSV (after the header),
    a row of a Parquet file; the table named relative to the corpus root (outputs name no absolute path)."""
    name = path.relative_to(root) if path.is_relative_to(root) else path.name
    return f"'{name}' row {i + 1}" if path.suffix == ".parquet" else f"'{name}' line {i + 2}"


def _seconds(value) -> float | None:
    """A time in seconds; empty is None (the whole file). ValueError when it is not a number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds):
        raise ValueError(f"{value!r} is not a number of seconds")
    return seconds


CHUNK = 10_000  # segments gathered as dicts before they become a (compact) polars frame


def _key_digest(key) -> int:
    """A segment's uniqueness key as a 128-bit number: the duplicate check holds one per segment, and the key
    tuples themselves (Python strings) took 0.4 KB per segment, 0.8 GB at AudioSet's 2 million."""
    return int.from_bytes(hashlib.blake2b(repr(key).encode(), digest_size=16).digest(), "little")


def finish(rows: Iterable[dict], root: Path, resolve: Callable[[str], str | None],
            source: str, licence: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The shared reader path: candidate rows -> (segments, rejects).

    A row: recording_id, path (absolute or relative to root; None when the table gives none),
    raw_labels list, onset and offset as the table gives them (parsed here), key (what must be
    unique), where (file and line, for details), optional licence/source. Checks run in the order
    missing path, outside_root, bad_time, duplicate_id, unknown_label, missing file, so an escaping
    path is never even looked at.
    """
    segments, frames, rejects, seen = [], [], [], set()
    for row in rows:
        if len(segments) >= CHUNK:  # a frame per chunk: a dict per segment would take gigabytes at AudioSet's size
            frames.append(segments_frame(segments))
            segments.clear()
        where = row.get("where") or "corpus table"
        if row["path"] is None or not str(row["path"]).strip():
            rejects.append(_reject({**row, "path": None}, "missing",
                                   f"{where}: no audio path; give the file's path relative to corpus.root"))
            continue
        path = (root / str(row["path"])).resolve()
        if not path.is_relative_to(root):
            rejects.append(_reject(row, "outside_root", f"{where}: path resolves outside corpus.root; "
                                                        "move the file under it or fix the path"))
            continue
        row = {**row, "path": path}
        try:
            onset, offset = _seconds(row.get("onset")), _seconds(row.get("offset"))
        except ValueError as err:
            rejects.append(_reject(row, "bad_time", f"{where}: event time {err}; write seconds (e.g. 1.25), "
                                                    "or leave start and end empty for the whole file"))
            continue
        key = _key_digest(row["key"])
        if key in seen:
            rejects.append(_reject(row, "duplicate_id", f"{row['key']} already listed"))
            continue
        seen.add(key)
        labels = [resolve(raw) for raw in row["raw_labels"]]
        unknown = [raw for raw, lab in zip(row["raw_labels"], labels) if lab is None]
        if unknown or not labels:
            rejects.append(_reject(row, "unknown_label", f"label(s) {unknown} not in the class table or corpus.label_map"))
            continue
        if path.is_dir():
            rejects.append(_reject(row, "not_a_file", f"{where}: the path is a directory, not an audio file; "
                                                      "point the table at a file inside it"))
            continue
        if not path.is_file():
            rejects.append(_reject(row, "missing", f"{where}: audio file not found under corpus.root; "
                                                   "fix the path or add the file"))
            continue
        segments.append({"recording_id": row["recording_id"], "path": str(path),
                         "labels": list(dict.fromkeys(labels)), "onset": onset,
                         "offset": offset, "source": row.get("source") or source,
                         "licence": row.get("licence") or licence})
    return pl.concat([*frames, segments_frame(segments)]), rejects_frame(rejects)


def _by_id(index: dict[str, str], folder: Path, rid: str | None) -> Path | None:
    # A missing id still gets a path, so the `missing` reject names where we looked.
    return (Path(index[rid]) if rid in index else folder / rid) if rid else None


# ---------------------------------------------------------------- AudioSet strong (and synth)
def read_strong(root: Path, tsv: Path, audio_dir: Path, resolve: Callable[[str], str | None],
                source: str, licence: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """AudioSet-strong TSV (segment_id, start_time_seconds, end_time_seconds, label) -> segments.

    Audio files are named by segment_id; times are relative to the file. Rows sharing
    (segment, start, end) become one multi-label segment; an exactly repeated row is a duplicate_id.
    """
    need = ["segment_id", "start_time_seconds", "end_time_seconds", "label"]
    table = read_table(tsv, need, "a tab-separated header " + "\\t".join(need), separator="\t")
    index = audio_index(audio_dir)
    rows = ({"recording_id": sid, "path": _by_id(index, audio_dir, sid), "raw_labels": [label or ""],
             "onset": start, "offset": end, "key": (sid, start, end, label), "where": _where(tsv, root, i)}
            for i, (sid, start, end, label) in enumerate(table.select(need).iter_rows()))  # one at a time
    segments, rejects = finish(rows, root, resolve, source, licence)
    segments = (segments.group_by("recording_id", "path", "onset", "offset", maintain_order=True)
                .agg(pl.col("labels").list.explode(keep_nulls=False, empty_as_null=False).unique(maintain_order=True), pl.first("source", "licence")))
    return segments, rejects


def audioset_strong(corpus_cfg: dict, seed: int, workdir: Path):
    root, f, kind = corpus_root(corpus_cfg), corpus_files(corpus_cfg), corpus_kind(corpus_cfg)
    # The class table is optional here: strong labels may be names; MIDs then need it (or label_map).
    names = class_names(root / f["labels"]) if (root / f["labels"]).is_file() else {}
    return read_strong(root, table_file(root, f["strong"], "strong"), root / f["audio"],
                       label_resolver(corpus_cfg, names), kind.name, kind.licence)


# ---------------------------------------------------------------- AudioSet (weak, segments CSV)
def audioset(corpus_cfg: dict, seed: int, workdir: Path):
    """Segments CSV (YTID, start_seconds, end_seconds, positive_labels) + local 10-s files named by YTID.

    The local file is the 10-second segment itself, so the whole file is the event (onset/offset null).
    """
    root, f, kind = corpus_root(corpus_cfg), corpus_files(corpus_cfg), corpus_kind(corpus_cfg)
    names = class_names(table_file(root, f["labels"], "labels"))
    seg_path, audio_dir = table_file(root, f["segments"], "segments"), root / f["audio"]
    index = audio_index(audio_dir)

    def rows():  # one segment at a time, as the list is read (2 million at AudioSet's size)
        with open(seg_path, newline="") as fh:
            for rec in csv.reader(fh, skipinitialspace=True):
                if not rec or rec[0].startswith("#"):
                    continue
                if len(rec) < 4:
                    raise ShardError(f"segments file '{seg_path}': line {rec} should be YTID, start_seconds, "
                                     "end_seconds, \"positive_labels\"")
                ytid = rec[0]
                yield {"recording_id": ytid, "path": _by_id(index, audio_dir, ytid),
                       "raw_labels": [m for m in rec[3].split(",") if m.strip()],
                       "onset": None, "offset": None, "key": ytid}

    return finish(rows(), root, label_resolver(corpus_cfg, names, closed=True), kind.name, kind.licence)


# ---------------------------------------------------------------- ESC-50
def esc50(corpus_cfg: dict, seed: int, workdir: Path):
    """meta/esc50.csv (filename, fold, target, category, esc10, src_file, take) + audio/.

    Takes cut from one freesound source share its `src_file`: that is the recording, so they stay
    on one side of the train/test split.
    """
    root, f, kind = corpus_root(corpus_cfg), corpus_files(corpus_cfg), corpus_kind(corpus_cfg)
    meta_path = table_file(root, f["meta"], "meta")
    meta = read_table(meta_path, ["filename", "category"],
                      "ESC-50 CSV columns filename,fold,target,category,esc10,src_file,take")
    has_src = "src_file" in meta.columns
    rows = [{"recording_id": (rec["src_file"] if has_src else Path(rec["filename"] or "").stem),
             "path": Path(f["audio"]) / rec["filename"] if rec["filename"] else None,
             "raw_labels": [rec["category"] or ""], "onset": None, "offset": None, "key": rec["filename"],
             "where": _where(meta_path, root, i)}
            for i, rec in enumerate(meta.iter_rows(named=True))]
    return finish(rows, root, label_resolver(corpus_cfg), kind.name, kind.licence)


# ---------------------------------------------------------------- FSD50K
def fsd50k(corpus_cfg: dict, seed: int, workdir: Path):
    """ground_truth/{dev,eval}.csv (fname, labels "A,B", mids, ...) + {dev,eval}_audio/; multi-label.

    With ground_truth/vocabulary.csv (index, label, mid; no header) labels outside it are unknown.
    """
    root, f, kind = corpus_root(corpus_cfg), corpus_files(corpus_cfg), corpus_kind(corpus_cfg)
    vocab_path = root / f["vocabulary"]
    vocab = None
    if vocab_path.is_file():
        layout = "FSD50K vocabulary: columns index,label,mid without a header"
        table = read_table(vocab_path, [], layout, has_header=False)  # headerless: name the columns by position
        table = table.rename(dict(zip(table.columns, ["index", "label", "mid"])))
        vocab = set(require_columns(table, vocab_path, ["label"], layout)["label"])
    label_map = corpus_cfg["label_map"]

    def resolve(raw: str) -> str | None:
        raw = raw.strip()
        if vocab is not None and raw not in vocab and raw not in label_map:
            return None
        return label_map.get(raw, display_label(raw) if raw else None)

    rows = []
    for part in ("dev", "eval"):
        table_path = root / f[part]
        if not table_path.is_file():
            continue
        table = read_table(table_path, ["fname", "labels"],
                           'FSD50K ground-truth CSV columns fname,labels,mids (labels "A,B", comma-separated)')
        for i, rec in enumerate(table.iter_rows(named=True)):
            rows.append({"recording_id": rec["fname"],
                         "path": Path(f[f"{part}_audio"]) / f"{rec['fname']}.wav" if rec["fname"] else None,
                         "raw_labels": [x for x in (rec["labels"] or "").split(",") if x],
                         "onset": None, "offset": None, "key": rec["fname"], "where": _where(table_path, root, i)})
    if not rows:
        raise ShardError(f"FSD50K: neither '{root / f['dev']}' nor '{root / f['eval']}' exists (or both are empty); "
                         "set config keys corpus.files.dev / corpus.files.eval")
    return finish(rows, root, resolve, kind.name, kind.licence)


# ---------------------------------------------------------------- manifest
def manifest(corpus_cfg: dict, seed: int, workdir: Path):
    """CSV or Parquet: path, label or labels (';'-separated), optional start, end, recording_id,
    source, licence. Paths are relative to corpus.root (absolute paths must still lie under it)."""
    root, f, kind = corpus_root(corpus_cfg), corpus_files(corpus_cfg), corpus_kind(corpus_cfg)
    if "manifest" not in corpus_cfg["files"] and (root / "manifest.parquet").is_file():
        f["manifest"] = "manifest.parquet"  # a Parquet manifest wins over the default CSV
    path = table_file(root, f["manifest"], "manifest")
    layout = "columns path, label (or labels, ';'-separated), optional start, end, recording_id, source, licence"
    table = read_table(path, [], layout)
    label_col = "labels" if "labels" in table.columns else "label"
    require_columns(table, path, ["path", label_col], layout)
    rows = []
    for i, rec in enumerate(table.iter_rows(named=True)):
        raw = rec[label_col]
        raw_labels = list(raw) if isinstance(raw, list) else [x for x in str(raw or "").split(";") if x.strip()]
        # Without a recording_id column each file is a recording, named by its path.
        rid = rec.get("recording_id") or str(rec["path"] or "").replace(os.sep, "_").lstrip("._")
        rows.append({"recording_id": rid, "path": rec["path"], "raw_labels": raw_labels, "onset": rec.get("start"),
                     "offset": rec.get("end"), "key": (rec["path"], rec.get("start"), rec.get("end")),
                     "source": rec.get("source"), "licence": rec.get("licence"), "where": _where(path, root, i)})
    return finish(rows, root, label_resolver(corpus_cfg), kind.name, kind.licence)
