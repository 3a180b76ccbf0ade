from shard.train import finetune
from shard.workflow import run

run(snakemake, finetune)
