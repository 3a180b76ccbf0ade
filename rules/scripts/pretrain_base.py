from shard.models.pretrain import pretrain_base
from shard.workflow import run

run(snakemake, pretrain_base)
