from shard.reporting.registry import build_table
from shard.workflow import run

run(snakemake, build_table)
