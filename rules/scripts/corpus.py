from shard.dataset.corpora import build_corpus
from shard.workflow import run

run(snakemake, build_corpus)
