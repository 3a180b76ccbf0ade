from shard.dataset.clips import cut_shard
from shard.workflow import run

run(snakemake, cut_shard)
