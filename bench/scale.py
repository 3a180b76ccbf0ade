"""Bench: the data half at scale (issue 16). The workflow up to the dataset card, the leakage audit and the
features (corpus, clips, features, WordNet, items, prompts; no training) on the synth corpus at 1x, 10x, 100x the default's clips,
with clips.shards proportional (one shard per 1,152 clips by default). For each stage (rule) it prints the jobs,
the peak resident memory of the largest job (as each job's log states it: shard.workflow.run ends every log with
the kernel's high-water mark), and the longest job and summed job time (from the rules' `benchmark:` files);
then the growth of each stage's peak memory and time from one factor to the next (10x -> 100x
is the issue's target: peak memory at most 1.3x, and no job above 2 GB at 100x).

    python bench/scale.py [--factors 1 10 100] [--clips-per-shard 1152] [--workdir /tmp/shard_scale] [--cores 2]
    python bench/scale.py --report-only --factors 1 10      # reread the benchmark files of earlier runs
    python bench/scale.py --notemp ...                       # keep the decoded shard audio (to rerun one rule)
    python bench/scale.py --forcerun clips ...               # rerun what follows the shards (with --notemp runs)

Each factor runs in WORKDIR/x{factor} (results/ there); a factor already complete is not rerun (Snakemake).
"""
from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# the data half: the card (items, WordNet, the surface-cue table), the prompts' leakage audit, the clips'
# features (every front end of the default) and the test clips' audio
TARGETS = ["results/shard/card.md", "results/prompts/leakage_audit.json", "results/features/logmel.json",
           "results/clips/test_audio.npy"]
DEFAULT_SCENES = 6  # config.yaml corpus.synth.scenes_per_class: 24 classes x 6 scenes x 8 events = 1,152 clips


def factor_config(factor: int, clips_per_shard: int) -> dict:
    """The default config with `factor` times the scenes, and one clip shard per `clips_per_shard` clips."""
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    synth = cfg["corpus"]["synth"]
    synth["scenes_per_class"] = DEFAULT_SCENES * factor
    clips = 24 * synth["scenes_per_class"] * synth["events_per_scene"]
    cfg["clips"]["shards"] = max(1, round(clips / clips_per_shard))
    return cfg


def run_factor(factor: int, workdir: Path, clips_per_shard: int, cores: int, notemp: bool = False,
               forcerun: list[str] = ()) -> float:
    """Run the data half for one factor; its wall time in seconds (the whole snakemake call). `notemp` keeps the
    decoded shard audio, so that a later `--forcerun keep_test_audio` can measure that rule alone."""
    out = workdir / f"x{factor}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.yaml").write_text(yaml.safe_dump(factor_config(factor, clips_per_shard)))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(out),
           "--configfile", str(out / "scale.yaml"), *(["--forcerun", *forcerun] if forcerun else []),
           "--cores", str(cores), *(["--notemp"] if notemp else []), *TARGETS]  # --forcerun takes every word up to a flag
    t0 = time.perf_counter()
    with open(out / "snakemake.log", "w") as log:
        done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"factor {factor}: snakemake failed ({done.returncode}); see {out / 'snakemake.log'}")
    (out / ("wall_forcerun_s.txt" if forcerun else "wall_s.txt")).write_text(f"{wall:.1f}\n")  # a rerun is partial
    return wall


def stage_of(benchmark: Path, benchmarks: Path) -> str:
    """The stage a benchmark file belongs to: a shard job's (benchmarks/clips_shard/{k}.tsv,
    benchmarks/features_shard/{set}/{k}.tsv) is its folder, so a stage's shards count together."""
    rel = benchmark.relative_to(benchmarks)
    return str(rel.parent) if rel.stem.isdigit() else str(rel.with_suffix(""))


PEAK = re.compile(r"peak memory (\d+) MB")  # the last line shard.workflow.run writes to a rule's log


def job_peak_mb(log: Path) -> float | None:
    """A job's peak resident memory as its log states it (the kernel's high-water mark), or None (an older log,
    a rule not run through shard.workflow.run)."""
    found = PEAK.findall(log.read_text(errors="replace")) if log.is_file() else []
    return float(found[-1]) if found else None


def read_benchmarks(results: Path) -> dict[str, dict]:
    """stage -> jobs, peak RSS (MB) of its largest job, longest job (s), summed job time (s). The peak is the one the
    job's log states; Snakemake's `benchmark:` file (a sampled max_rss) only where the log has none, marked
    `sampled` (it misses the peak of a job that ends within seconds)."""
    stages: dict[str, dict] = {}
    # in the order the jobs ended: roughly the workflow's own
    for tsv in sorted((results / "benchmarks").rglob("*.tsv"), key=lambda p: p.stat().st_mtime):
        with open(tsv) as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        stage = stages.setdefault(stage_of(tsv, results / "benchmarks"),
                                  {"jobs": 0, "rss_mb": 0.0, "max_s": 0.0, "sum_s": 0.0, "sampled": False})
        logged = job_peak_mb((results / "logs" / tsv.relative_to(results / "benchmarks")).with_suffix(".log"))
        for row in rows:
            rss = float(row["max_rss"]) if row["max_rss"] not in ("", "-", "NA") else 0.0
            stage["jobs"] += 1
            stage["rss_mb"] = max(stage["rss_mb"], rss if logged is None else logged)
            stage["sampled"] |= logged is None
            stage["max_s"] = max(stage["max_s"], float(row["s"]))
            stage["sum_s"] += float(row["s"])
    return stages


def clip_count(results: Path) -> int | None:
    clips = results / "clips" / "clips.parquet"
    if not clips.is_file():
        return None
    import polars as pl

    return pl.scan_parquet(clips).select(pl.len()).collect().item()


def report(workdir: Path, factors: list[int], clips_per_shard: int) -> str:
    by_factor = {f: read_benchmarks(workdir / f"x{f}" / "results") for f in factors
                 if (workdir / f"x{f}" / "results" / "benchmarks").is_dir()}
    if not by_factor:
        return "no benchmark files yet"
    stages = list(dict.fromkeys(s for b in by_factor.values() for s in b))
    lines = []
    head = "| stage | " + " | ".join(f"{f}x jobs | {f}x peak MB | {f}x longest s | {f}x sum s" for f in by_factor) + " |"
    lines += [head, "|" + "---|" * (1 + 4 * len(by_factor))]
    for s in stages:
        cells = []
        for f in by_factor:
            b = by_factor[f].get(s)
            cells += [str(b["jobs"]), f"{b['rss_mb']:.0f}{' (sampled)' if b['sampled'] else ''}", f"{b['max_s']:.1f}",
                      f"{b['sum_s']:.1f}"] if b else ["-"] * 4
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    info = []
    for f in by_factor:
        wall = workdir / f"x{f}" / "wall_s.txt"
        info.append(f"{f}x: {clip_count(workdir / f'x{f}' / 'results')} clips, "
                    f"{factor_config(f, clips_per_shard)['clips']['shards']} shards, "
                    f"wall {wall.read_text().strip() + ' s' if wall.is_file() else 'incomplete'}")
    lines += ["", *info]
    pairs = [(a, b) for a, b in zip(list(by_factor), list(by_factor)[1:])]
    for a, b in pairs:
        lines += ["", f"growth {a}x -> {b}x (peak memory of the largest job; longest job; summed time):"]
        for s in stages:
            x, y = by_factor[a].get(s), by_factor[b].get(s)
            if x and y and x["rss_mb"] and x["max_s"] > 0:
                lines.append(f"  {s:<18} memory x{y['rss_mb'] / x['rss_mb']:.2f}   longest x{y['max_s'] / x['max_s']:.1f}"
                             f"   sum x{y['sum_s'] / max(x['sum_s'], 1e-9):.1f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--factors", type=int, nargs="+", default=[1, 10, 100])
    ap.add_argument("--clips-per-shard", type=int, default=1152)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/shard_scale"))
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--notemp", action="store_true", help="keep the decoded shard audio (snakemake --notemp)")
    ap.add_argument("--forcerun", nargs="+", default=[], metavar="RULE",
                    help="rerun these rules and what depends on them (snakemake --forcerun), e.g. clips")
    args = ap.parse_args()
    if not args.report_only:
        for factor in args.factors:
            wall = run_factor(factor, args.workdir, args.clips_per_shard, args.cores, args.notemp, args.forcerun)
            print(f"{factor}x done in {wall:.0f} s", flush=True)
    print(report(args.workdir, args.factors, args.clips_per_shard))


if __name__ == "__main__":
    main()
