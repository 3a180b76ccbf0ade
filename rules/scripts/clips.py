from shard.clips import build_clips
from shard.workflow import run

run(snakemake, build_clips)
