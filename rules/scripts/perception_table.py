from shard.tables import perception_table
from shard.workflow import run

run(snakemake, perception_table)
