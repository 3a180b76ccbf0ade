from shard.evaluation.evaluate import evaluate
from shard.workflow import run

run(snakemake, evaluate)
