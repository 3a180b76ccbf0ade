# Clips + relations -> SHARD items (test; clip-disjoint train pool) + the dataset card.


rule shard_items:
    input:
        clips_parquet=rules.clips.output.clips_parquet,
        label_synsets=rules.wordnet.output.label_synsets,
        relations=rules.wordnet.output.relations,
        wordnet_source=rules.wordnet.output.source,
    output:
        test=f"{R}/shard/test.parquet",
        train_pool=f"{R}/shard/train_pool.parquet",
        words=f"{R}/shard/words.parquet",
        card=report(f"{R}/shard/card.md", caption="../report/card.rst", category="Dataset"),
    params:
        shard=config["shard"],
        seed=config["seed"],
        config=dataset_config(),
    log:
        f"{R}/logs/shard_items.log",
    benchmark:
        f"{R}/benchmarks/shard_items.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/shard_items.py"
