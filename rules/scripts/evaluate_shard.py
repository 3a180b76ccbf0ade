from shard.evaluation.shards import evaluate_shard
from shard.workflow import run

run(snakemake, evaluate_shard)
