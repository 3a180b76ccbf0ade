from shard.tables import labelling_table
from shard.workflow import run

run(snakemake, labelling_table)
