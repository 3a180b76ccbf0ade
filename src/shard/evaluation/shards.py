"""Sharded evaluation (config `evaluate.shards`: N > 1): each (condition, task)'s prompt table is cut into N
contiguous blocks of whole batches (`evaluate.batch_size`); rule `evaluate_shard` scores one block (one job, one
GPU on Slurm) into its per-item records, and rule `evaluate_gather` writes the same `{task}.jsonl` and
`{task}.summary.json` as an unsharded run, in the same order and byte for byte: every batch is the one an
unsharded run scores, and the metrics are computed once, over every shard's records.

    blocks(n_rows=100, batch_size=16, shards=3)  ->  [(0, 48), (48, 80), (80, 100)]
"""
from __future__ import annotations

import json

import polars as pl

from shard.common import ShardError, atomic_path


def blocks(n_rows: int, batch_size: int, shards: int) -> list[tuple[int, int]]:
    """`shards` contiguous [start, stop) row ranges that cover rows 0..n_rows, each a run of whole batches (only
    the last batch of the table may be short), the batches dealt as evenly as they go (the first blocks take
    one more). With more shards than batches the last blocks are empty (start == stop)."""
    if batch_size < 1 or shards < 1 or n_rows < 0:
        raise ValueError(f"blocks: n_rows >= 0, batch_size >= 1 and shards >= 1 (got {n_rows}, {batch_size}, {shards})")
    n_batches = -(-n_rows // batch_size)
    per_shard, extra = divmod(n_batches, shards)
    bounds, batch = [0], 0
    for k in range(shards):
        batch += per_shard + (k < extra)
        bounds.append(min(batch * batch_size, n_rows))
    return list(zip(bounds[:-1], bounds[1:]))


def evaluate_shard(*, prompts, records, shard: int, shards: int, evaluate: dict, threads: int, **scoring) -> None:
    """Rule `evaluate_shard`: the per-item records (jsonl) of block `shard` (0-based) of `shards`; an empty block
    (more shards than batches) writes an empty file."""
    from shard.evaluation.evaluate import score_items

    n_rows = pl.scan_parquet(prompts).select(pl.len()).collect().item()
    rows = blocks(n_rows, evaluate["batch_size"], shards)[shard]
    records_of_block = score_items(prompts=prompts, evaluate=evaluate, threads=threads, rows=rows, **scoring)
    # Python's json, not polars' ndjson writer: it gives the gather back exactly these values (polars writes an
    # infinite log-prob as null), so the gathered metrics are the unsharded run's
    with atomic_path(records) as tmp, open(tmp, "w") as out:
        out.writelines(json.dumps(record) + "\n" for record in records_of_block)


def evaluate_gather(*, records: list[str], prompts, predictions, summary, **setting) -> None:
    """Rule `evaluate_gather`: every shard's records, in shard order, -> the (condition, task)'s `predictions`
    and `summary`, as rule `evaluate` writes them unsharded."""
    from shard.evaluation.evaluate import write_results

    gathered = []
    for path in records:
        with open(path) as lines:
            gathered += [json.loads(line) for line in lines]
    n_rows = pl.scan_parquet(prompts).select(pl.len()).collect().item()
    if len(gathered) != n_rows:
        raise ShardError(f"{predictions}: the {len(records)} shards hold {len(gathered)} records but {prompts} has "
                         f"{n_rows} prompts; delete the shard files ({records[0]}, ...) and rerun")
    write_results(gathered, predictions, summary, prompts=prompts, **setting)
