from shard.dataset.clips import gather_clips
from shard.workflow import run

run(snakemake, gather_clips)
