from shard.dataset.features import build_features
from shard.workflow import run

run(snakemake, build_features)
