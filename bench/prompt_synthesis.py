"""Bench: synthesizing 1,000,000 interleaved training prompts.

Runs, side by side on the same train pool and the same random plan:
  - shard.prompts.synthesis (column-wise polars), in a child process so its peak memory is its own;
  - a straightforward per-row Python loop producing the same rows;
checks that both outputs are equal and prints wall times, the speed ratio and peak memory.
Targets (issue): <= 10 s wall, <= 2 GB peak, >= 10x faster than the per-row loop.

    python bench/prompt_synthesis.py [--pool results/shard/train_pool.parquet] [--n 1000000]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import polars as pl

from shard.prompts import templates
from shard.prompts.synthesis import (PERMUTATIONS4, PromptTask, assemble_train_prompts, plan_train_prompts,
                                     semantic_templates)


def vectorised(pool_path: str, clips_path: str, n: int, out: str) -> dict:
    t0 = time.perf_counter()
    pool = pl.scan_parquet(pool_path)  # as rule train_prompts reads it
    plan = plan_train_prompts(pool, pl.scan_parquet(clips_path), n, seed=0, replay_fraction=0.1, multi_clip_fraction=0.1)
    df = assemble_train_prompts(pool, plan, prefix="bench")
    wall = time.perf_counter() - t0
    df.write_parquet(out)
    return {"wall_s": wall, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def per_row(pool: pl.DataFrame, clips: pl.DataFrame, n: int) -> pl.DataFrame:
    """The obvious implementation: one Python dict per prompt, built in a loop over the plan."""
    plan = plan_train_prompts(pool, clips, n, seed=0, replay_fraction=0.1, multi_clip_fraction=0.1)
    items = pool.select("relation", "format", "candidate", "options", "answer", "label").to_dicts()
    questions = semantic_templates()[0]
    clip_ids, clip_labels = plan["clip_ids"].to_list(), plan["clip_labels"].to_list()
    rows = []
    for i in range(n):
        task, it = plan["task"][i], items[plan["item"][i]]
        clip, clip2 = clip_ids[plan["clip"][i]], clip_ids[plan["clip2"][i]]
        row = {"prompt_id": f"bench-{i:07d}", "clip_ids": [clip], "format": "interleaved"}
        if task == PromptTask.SEMANTIC:
            text = questions[plan["template"][i]].text.replace("{word}", it["candidate"])
            if it["format"] == "mc4":
                opts = [it["options"][j] for j in PERMUTATIONS4[plan["perm"][i]]]
                text += templates.MC_OPTIONS_PREFIX + templates.MC_OPTIONS_SEP.join(opts) + templates.MC_OPTIONS_END
            row.update(text=text, answer=it["answer"], task="semantic", relation=it["relation"],
                       question_format=it["format"])
        elif task == PromptTask.LABELLING:
            row.update(text=templates.CAPTION.text,
                       answer=templates.caption_answer(clip_labels[plan["clip"][i]]),
                       task="labelling", relation=None, question_format="caption")
        else:
            row.update(clip_ids=[clip, clip2], text=templates.COMPARE.text,
                       answer=templates.YES if plan["same"][i] else templates.NO, task="compare", relation=None,
                       question_format="yesno")
        rows.append(row)
    cols = ["prompt_id", "clip_ids", "text", "answer", "task", "relation", "format", "question_format"]
    return pl.DataFrame(rows, schema={c: (pl.List(pl.String) if c == "clip_ids" else pl.String) for c in cols})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pool", default="results/shard/train_pool.parquet")
    ap.add_argument("--clips", default="results/clips/clips.parquet")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", default="/tmp/shard_bench_prompts.parquet")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(vectorised(args.pool, args.clips, args.n, args.out)))
        return
    child = subprocess.run([sys.executable, __file__, "--child", "--pool", args.pool, "--clips", args.clips, "--n", str(args.n),
                            "--out", args.out], capture_output=True, text=True, check=True)
    fast = json.loads(child.stdout.strip().splitlines()[-1])
    pool = pl.read_parquet(args.pool)
    t0 = time.perf_counter()
    slow = per_row(pool, pl.read_parquet(args.clips), args.n)
    slow_wall = time.perf_counter() - t0
    fast_df = pl.read_parquet(args.out)
    same = fast_df.equals(slow.select(fast_df.columns))
    print(f"prompts: {args.n:,} from a pool of {pool.height:,} items")
    print(f"column-wise (shard.prompts.synthesis): {fast['wall_s']:.2f} s wall, peak {fast['peak_mb']:.0f} MB")
    print(f"per-row Python loop:         {slow_wall:.2f} s wall")
    print(f"speed-up: {slow_wall / fast['wall_s']:.1f}x   outputs identical: {same}")
    ok = fast["wall_s"] <= 10 and fast["peak_mb"] <= 2048 and slow_wall / fast["wall_s"] >= 10 and same
    print("targets (<=10 s, <=2 GB, >=10x, identical):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
