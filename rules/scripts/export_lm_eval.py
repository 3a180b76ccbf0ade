from shard.harness.tasks import export_lm_eval
from shard.workflow import run

run(snakemake, export_lm_eval)
