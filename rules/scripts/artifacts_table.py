from shard.dataset.artifacts import artifacts_table
from shard.workflow import run

run(snakemake, artifacts_table)
