from shard.prompts.synthesis import build_train_prompts
from shard.workflow import run

run(snakemake, build_train_prompts)
