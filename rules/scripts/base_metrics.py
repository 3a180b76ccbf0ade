from shard.evaluation.evaluate import base_metrics
from shard.workflow import run

run(snakemake, base_metrics)
