from shard.evaluation.shards import evaluate_gather
from shard.workflow import run

run(snakemake, evaluate_gather)
