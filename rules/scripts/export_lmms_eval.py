from shard.harness.tasks import export_lmms_eval
from shard.workflow import run

run(snakemake, export_lmms_eval)
