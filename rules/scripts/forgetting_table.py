from shard.tables import forgetting_table
from shard.workflow import run

run(snakemake, forgetting_table)
