from shard.tables import scaling_table
from shard.workflow import run

run(snakemake, scaling_table)
