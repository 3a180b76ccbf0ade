from shard.dataset.card import build_card
from shard.workflow import run

run(snakemake, build_card)
