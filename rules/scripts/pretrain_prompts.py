from shard.prompts.synthesis import build_pretrain_prompts
from shard.workflow import run

run(snakemake, build_pretrain_prompts)
