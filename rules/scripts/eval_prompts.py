from shard.prompts.synthesis import build_eval_prompts
from shard.workflow import run

run(snakemake, build_eval_prompts)
