from shard.dataset.features import build_features_shard
from shard.workflow import run

run(snakemake, build_features_shard)
