"""Clip shards (config `clips.shards`): the plan that cuts the corpus into N jobs, and lazy reads across shards.

    clips/plan.json              rule clips_plan: the sorted source files cut into N contiguous ranges (no file
                                 is split), balanced by segment count
    clips/shards/{k}.npy         rule clips_shard: int16 (segments of shard k, samples), one row per segment of
                                 its files; a rejected segment's row stays zero (temporary: deleted once every
                                 front end's features and clips/test_audio.npy exist)
    clips/index.parquet          rule clips (the gather): clip_id -> (shard, shard_row) of every kept clip
    features/{set}/{k}.npy       rule features_shard: float16 features of every row of clips/shards/{k}.npy

`ShardStore` reads rows by clip_id from such per-shard arrays, opening them lazily and keeping at most
`max_open` open at a time; it reads only the rows asked for, with plain reads (not memory maps), so its resident
memory is the rows it returns. Only the shard files and the index depend on N; every table and array
built from them (clips.parquet, the items, the prompts, models, tables) is the same for any N.
"""
from __future__ import annotations

import contextlib
import json
import os
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl

from shard.common import ShardError, atomic_path, write_json

INDEX_SCHEMA = {"clip_id": pl.String, "shard": pl.Int64, "shard_row": pl.Int64}
MAX_OPEN = 8  # open shard files per store: one descriptor each (clusters often allow 1,024 per process)


def cut_ranges(files_segments: list[int], shards: int) -> list[tuple[int, int]]:
    """[start, stop) file ranges, `shards` of them, contiguous, balanced by segment count; a file is never
    split (a shard may be empty when there are fewer files than shards)."""
    cum = np.cumsum([0, *files_segments])
    targets = [cum[-1] * k / shards for k in range(1, shards)]
    cuts = [0, *(int(np.searchsorted(cum, t, side="left")) for t in targets), len(files_segments)]
    cuts = np.maximum.accumulate(cuts)  # monotone even where a file holds many segments
    return [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:])]


def plan_shards(*, segments, plan, shards: int) -> None:
    """Rule `clips_plan` (metadata only): the sorted source files cut into `shards` contiguous ranges."""
    per_file = (pl.scan_parquet(segments).group_by("path").len().sort("path").collect())
    ranges = cut_ranges(per_file["len"].to_list(), shards)
    paths, counts = per_file["path"].to_list(), per_file["len"].to_list()
    write_json({"shards": shards, "ranges": [
        {"shard": k, "files": b - a, "segments": int(sum(counts[a:b])),
         "first": paths[a] if b > a else None, "last": paths[b - 1] if b > a else None}
        for k, (a, b) in enumerate(ranges)]}, plan)


def shard_range(plan, shard: int) -> dict:
    ranges = json.loads(Path(plan).read_text())["ranges"]
    if not 0 <= shard < len(ranges):
        raise ShardError(f"'{plan}' plans {len(ranges)} shards, not shard {shard}; rerun the clips_plan rule")
    return ranges[shard]


def shard_segments(segments, plan, shard: int) -> pl.DataFrame:
    """The segments of one shard's files (only that range is read into memory)."""
    r = shard_range(plan, shard)
    if r["files"] == 0:
        return pl.read_parquet(segments).clear()
    return pl.scan_parquet(segments).filter(pl.col("path").is_between(pl.lit(r["first"]), pl.lit(r["last"]))).collect()


class _Rows:
    def __init__(self, fh, path: Path, shape: tuple[int, ...], dtype: np.dtype):
        self.fh, self.path, self.shape, self.dtype, self.rows = fh, path, shape, dtype, 0

    def write(self, block: np.ndarray) -> None:
        """The next rows, in order."""
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if block.shape[1:] != self.shape[1:] or self.rows + len(block) > self.shape[0]:
            raise ShardError(f"'{self.path}': a block of shape {block.shape} does not fit the rows left of {self.shape}")
        self.fh.write(block.tobytes())
        self.rows += len(block)

    def skip(self, n: int) -> None:
        """`n` rows of zeros."""
        self.write(np.zeros((n, *self.shape[1:]), self.dtype))


@contextlib.contextmanager
def npy_rows(path, shape: tuple[int, ...], dtype) -> Iterator[_Rows]:
    """An .npy file of known shape written block by block, in row order, with plain writes: memory stays at one
    block however large the array (the dirty pages of a writable memory map count as the job's resident memory
    and grow with the array). Moved into place only once every row is written.

        with npy_rows(path, (n, 16000), np.int16) as out:
            out.write(block)
    """
    shape, dtype = tuple(int(d) for d in shape), np.dtype(dtype)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape})
        rows = _Rows(fh, Path(path), shape, dtype)
        yield rows
        if rows.rows != shape[0]:
            raise ShardError(f"'{path}': {rows.rows} rows written of {shape[0]}")


def read_index(index, columns=None) -> pl.DataFrame:
    return pl.read_parquet(index, columns=columns)


class _ShardFile:
    """One .npy shard open for row reads: its header parsed once, rows read with pread into the caller's
    memory. Not a memory map: the pages of a map count as the job's resident memory while it is open, so a
    store of 8 open shards held up to 8 shards' worth (hundreds of MB at AudioSet's shard size)."""

    def __init__(self, path: Path):
        self.fh = open(path, "rb")
        header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        version = np.lib.format.read_magic(self.fh)
        if version not in header:
            raise ShardError(f"'{path}' is a .npy of format version {version}; rerun the rule that writes it")
        shape, fortran, self.dtype = header[version](self.fh)
        if fortran:
            raise ShardError(f"'{path}' is stored in Fortran order; rerun the rule that writes it")
        self.shape, self.offset = tuple(shape), self.fh.tell()
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize

    def read(self, rows: np.ndarray, out: np.ndarray) -> None:
        """Rows `rows` (ascending) into `out` (len(rows), ...): one read per run of consecutive rows."""
        if len(rows) and (rows[0] < 0 or rows[-1] >= self.shape[0]):
            raise ShardError(f"'{self.fh.name}' holds {self.shape[0]} rows, not row {int(rows[-1])}; rerun the rule "
                             "that writes the clip index")
        starts = np.flatnonzero(np.diff(rows, prepend=-2) != 1)  # where a run of consecutive rows begins
        for a, b in zip(starts, [*starts[1:], len(rows)]):
            n = (b - a) * self.row_bytes
            got = os.preadv(self.fh.fileno(), [memoryview(out[a:b]).cast("B")], self.offset + int(rows[a]) * self.row_bytes)
            if got != n:
                raise ShardError(f"'{self.fh.name}' ends early ({got} of {n} bytes at row {int(rows[a])}); rerun the "
                                 "rule that writes it")

    def close(self) -> None:
        self.fh.close()


class ShardStore:
    """Rows of per-shard arrays by clip_id: `ShardStore(index, shard_file).get(["clip_a", ...])`, where
    `shard_file(k)` is shard k's .npy. Shards are opened on first use; at most `max_open` stay open, and only
    the rows asked for are read."""

    def __init__(self, index, shard_file, max_open: int = MAX_OPEN):
        # sorted by clip_id, looked up by binary search: an Arrow string column and two integer arrays take tens
        # of bytes per clip, where a dict of tuples took hundreds (half a gigabyte at AudioSet's 2 million clips)
        table = read_index(index, columns=["clip_id", "shard", "shard_row"]).sort("clip_id")
        self._ids = table["clip_id"]
        self._shard, self._row = table["shard"].to_numpy(), table["shard_row"].to_numpy()
        self.shard_file, self.max_open = shard_file, max_open
        self.shards = np.unique(self._shard).tolist()
        self._open: OrderedDict[int, _ShardFile] = OrderedDict()

    def _file(self, shard: int) -> _ShardFile:
        """Shard `shard`, open (the least recently used one closed past `max_open`)."""
        if shard in self._open:
            self._open.move_to_end(shard)
        else:
            path = self.shard_file(shard)
            if not Path(path).is_file():
                raise ShardError(f"'{path}' is missing; rerun the rule that writes it (its shard is listed in the "
                                 "clip index)")
            self._open[shard] = _ShardFile(Path(path))
            while len(self._open) > self.max_open:
                self._open.popitem(last=False)[1].close()
        return self._open[shard]

    @property
    def open_shards(self) -> list[int]:
        return list(self._open)

    def __len__(self) -> int:
        return len(self._ids)

    def row_shape(self) -> tuple[tuple[int, ...], np.dtype]:
        f = self._file(self.shards[0])
        return f.shape[1:], f.dtype

    def get(self, clip_ids) -> np.ndarray:
        """(len(clip_ids), ...) in the order asked; only the rows asked for are read."""
        asked = pl.Series(list(clip_ids), dtype=pl.String)
        at = np.minimum(self._ids.search_sorted(asked, side="left").to_numpy(), max(len(self._ids) - 1, 0))
        found = self._ids.gather(at) == asked if len(self._ids) else pl.Series([False] * len(asked))
        if not found.all():
            raise ShardError(f"clip {asked.filter(~found)[0]!r} is not in the clip index")
        shards, rows = self._shard[at], self._row[at]
        if not len(asked):  # an empty batch of the stored row shape
            shape, dtype = self.row_shape()
            return np.empty((0, *shape), dtype=dtype)
        first = self._file(int(shards[0]))
        shape, dtype = first.shape[1:], first.dtype
        out = np.empty((len(asked), *shape), dtype=dtype)
        for shard in dict.fromkeys(shards.tolist()):
            f = self._file(shard)
            if (f.shape[1:], f.dtype) != (shape, dtype):
                raise ShardError(f"'{f.fh.name}' holds rows of {f.shape[1:]} {f.dtype}, other shards {shape} {dtype}; "
                                 "rerun the rule that writes the shards")
            positions = np.flatnonzero(shards == shard)
            order = np.argsort(rows[positions], kind="stable")  # ascending rows: runs read in one call each
            block = np.empty((len(positions), *shape), dtype=dtype)
            f.read(rows[positions][order], block)
            out[positions[order]] = block
        return out
