from shard.dataset.clips import build_clips
from shard.workflow import run

run(snakemake, build_clips)
