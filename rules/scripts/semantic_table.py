from shard.tables import semantic_table
from shard.workflow import run

run(snakemake, semantic_table)
