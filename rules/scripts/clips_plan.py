from shard.dataset.shards import plan_shards
from shard.workflow import run

run(snakemake, plan_shards)
