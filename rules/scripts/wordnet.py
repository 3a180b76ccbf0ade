from shard.dataset.mining import build_wordnet
from shard.workflow import run

run(snakemake, build_wordnet)
