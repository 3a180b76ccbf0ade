from shard.tables import tradeoff_figure
from shard.workflow import run

run(snakemake, tradeoff_figure)
