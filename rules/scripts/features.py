from shard.dataset.features import gather_features
from shard.workflow import run

run(snakemake, gather_features)
