"""Shared helpers: seeded randomness, atomic writes, user-facing errors, logging, provenance.

Every stage uses these, so that there is one way to draw random numbers, one way to write a
file target, and one way to tell the user what went wrong.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import numpy as np

log = logging.getLogger("shard")


class ShardError(Exception):
    """An error the user can fix: the message names the file or config key and what to do."""


def readable(name: str) -> str:
    """A WordNet lemma or corpus label name as words: 'crying_baby' -> 'crying baby'."""
    return name.replace("_", " ")


# ---------------------------------------------------------------- randomness
def seed_for(seed: int, *keys: Any) -> int:
    """A 63-bit seed derived from (config seed, stage, key, ...): stable across runs and machines."""
    text = json.dumps([seed, *[str(k) for k in keys]])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1


def rng(seed: int, *keys: Any) -> np.random.Generator:
    """The generator for one random choice of one stage: `rng(cfg["seed"], "items", clip_id)`."""
    return np.random.default_rng(seed_for(seed, *keys))


# ---------------------------------------------------------------- atomic writes
@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it into place only if the block succeeds.

    A crash never leaves a half-written file (or directory) under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent)) / path.name
    try:
        yield tmp
        if path.is_dir() and tmp.is_dir():
            import shutil

            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        import shutil

        shutil.rmtree(tmp.parent, ignore_errors=True)


def write_parquet(df, path: str | os.PathLike) -> None:
    """Write a polars DataFrame atomically, byte-reproducibly (no timestamps, fixed compression)."""
    with atomic_path(path) as tmp:
        df.write_parquet(tmp, compression="zstd", compression_level=3, statistics=False)


@contextlib.contextmanager
def sorted_parquet(path: str | os.PathLike, *, by: str, cuts: list, schema: dict,
                   buffer_rows: int = 200_000) -> Iterator:
    """Write one parquet sorted by the unique key `by` from frames added in any order, holding a bounded number
    of rows: yields `add(frame)`. Added rows are buffered and spilled, every `buffer_rows`, to one temporary
    file with a row group per key range (`cuts`: the sorted keys that start a new range); when the block ends,
    each range in turn is read from its row groups, sorted and appended to `path` (write_parquet's options,
    atomically; nothing is written if the block or the write fails). So memory holds the buffer or one range:
    pick cuts that bound a range's rows; the temporary files number the spills, not spills x ranges. The data
    equal write_parquet(all rows sorted by `by`); the bytes differ (a row group per range)."""
    import shutil

    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    spill = Path(tempfile.mkdtemp(prefix=f".{path.name}.spill.", dir=path.parent))
    starts = pl.Series(by, cuts, dtype=schema[by]).sort()
    arrow_schema = pl.DataFrame(schema=schema).to_arrow().schema
    buffer: list = []
    buffered = spills = 0
    parts: dict[int, list[tuple[Path, int]]] = {}  # range -> its (spill file, row group), in spill order

    def flush() -> None:
        nonlocal buffered, spills
        frame = pl.concat(buffer, rechunk=False)
        buffer.clear()
        buffered = 0
        ranges = starts.search_sorted(frame[by], side="right")  # range i: cuts[i-1] <= key < cuts[i]
        file = spill / f"{spills:06d}.parquet"
        spills += 1
        with pq.ParquetWriter(file, arrow_schema, compression="lz4") as writer:
            for group, i in enumerate(ranges.unique().sort()):  # one range's rows copied at a time
                part = frame.filter(ranges == i)
                writer.write_table(part.to_arrow(), row_group_size=part.height)  # exactly one row group
                parts.setdefault(i, []).append((file, group))

    def add(frame) -> None:
        nonlocal buffered
        buffer.append(frame)
        buffered += frame.height
        if buffered >= buffer_rows:
            flush()

    try:
        yield add
        if buffer:
            flush()
        with atomic_path(path) as tmp, pq.ParquetWriter(tmp, arrow_schema, compression="zstd",
                                                        compression_level=3, write_statistics=False) as writer:
            for i in sorted(parts):
                groups = pa.concat_tables(pq.ParquetFile(f).read_row_group(g) for f, g in parts[i])
                writer.write_table(pl.from_arrow(groups).cast(schema).sort(by).to_arrow())
            if not parts:
                writer.write_table(arrow_schema.empty_table())
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def collect_streaming(query):
    """Run a polars LazyFrame with the streaming engine: a scan's rows pass through in batches, so a count or a
    filter over a large parquet file does not hold the whole table (its memory still grows with the rows:
    `scan_slices` bounds it)."""
    return query.collect(engine="streaming")


# rows per slice of `scan_slices`: one streaming pass over a whole file still grew with its rows (measured on
# copies of the default's train pool: the distinct (relation, role, format) took 26 MB more at 430,000 rows and
# 120 MB more at 7.8 million; slices stayed flat); smaller slices cost more passes
SLICE_ROWS = 50_000


def scan_slices(query):
    """A polars LazyFrame as consecutive lazy slices of SLICE_ROWS rows (a parquet scan reads only a slice's row
    groups), for passes whose memory must not grow with the table."""
    import polars as pl

    height = collect_streaming(query.select(pl.len())).item()
    for start in range(0, height, SLICE_ROWS):
        yield query.slice(start, SLICE_ROWS)


def write_json(obj: Any, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_jsonl(records: list[dict], path: str | os.PathLike) -> None:
    """One JSON object per line (polars' ndjson writer), atomically."""
    import polars as pl

    with atomic_path(path) as tmp:
        pl.DataFrame(records, infer_schema_length=None).write_ndjson(tmp)


def read_jsonl(path: str | os.PathLike):
    """A jsonl file as a polars DataFrame (an empty file: no rows, no columns)."""
    import polars as pl

    return pl.read_ndjson(path, infer_schema_length=None) if Path(path).stat().st_size else pl.DataFrame()


def write_text(text: str, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_npy(array: np.ndarray, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)


def sha1_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------- config and provenance
def config_hash(cfg: Any) -> str:
    return hashlib.sha1(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:12]


PACKAGES = ("shard", "torch", "transformers", "peft", "tokenizers", "librosa", "nltk", "polars", "numpy", "snakemake",
            "wordfreq", "sentence-transformers")


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


# ---------------------------------------------------------------- logging
def setup_logging(log_file: str | os.PathLike | None = None, level: int = logging.INFO) -> None:
    """Log to stderr and, when given, to the rule's log file (snakemake's `log:`)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        handlers=handlers, force=True)
