from shard.dataset.clips import build_test_audio
from shard.workflow import run

run(snakemake, build_test_audio)
