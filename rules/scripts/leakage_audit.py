from shard.prompts import leakage_audit
from shard.workflow import run

run(snakemake, leakage_audit)
