from shard.dataset.items import build_items
from shard.workflow import run

run(snakemake, build_items)
