from shard.tables import models_table
from shard.workflow import run

run(snakemake, models_table)
