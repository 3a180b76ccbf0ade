from shard.dataset.export import export_hf
from shard.workflow import run

run(snakemake, export_hf)
