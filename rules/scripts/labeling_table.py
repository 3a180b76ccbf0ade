from shard.tables import labeling_table
from shard.workflow import run

run(snakemake, labeling_table)
