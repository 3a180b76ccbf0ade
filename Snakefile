# SHARD: audio-based synonym and hypernym reasoning — from labelled audio + WordNet to result tables.
# Run `snakemake --cores 2` for the embedded default; name a file to rebuild one target, e.g.
# `snakemake --cores 2 results/tables/semantic.md`. Config: config.yaml, checked against
# src/shard/config.schema.yaml before any job runs.

configfile: f"{workflow.basedir}/config.yaml"  # --configfile FILE overrides its keys


include: "rules/common.smk"
include: "rules/corpus.smk"
include: "rules/wordnet.smk"
include: "rules/shard.smk"
include: "rules/prompts.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/tables.smk"
include: "rules/export.smk"


rule all:
    input:
        all_targets(),
    default_target: True
