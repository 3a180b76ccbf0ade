from shard.prompts.synthesis import leakage_audit
from shard.workflow import run

run(snakemake, leakage_audit)
