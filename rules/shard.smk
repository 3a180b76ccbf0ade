# Clips + relations -> SHARD items (test; clip-disjoint train pool), the word facts, the summary the card
# reads (clips kept, words left out, labels without items), the surface-cue audit of the test items
# (tables/artifacts: can their text alone answer them?) and the dataset card.


rule shard_items:
    input:
        clips_parquet=rules.clips.output.clips_parquet,
        label_synsets=rules.wordnet.output.label_synsets,
        relations=rules.wordnet.output.relations,
        wordnet_source=rules.wordnet.output.source,
    output:
        test=f"{RESULTS}/shard/test.parquet",
        train_pool=f"{RESULTS}/shard/train_pool.parquet",
        words=f"{RESULTS}/shard/words.parquet",
        summary=f"{RESULTS}/shard/summary.json",
    params:
        shard=config["shard"],
        seed=config["seed"],
    log:
        f"{RESULTS}/logs/shard_items.log",
    benchmark:
        f"{RESULTS}/benchmarks/shard_items.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/shard_items.py"


# the items' audit: text-only baselines that must sit at chance (written under tables/, where the README quotes it)
rule artifacts_table:
    input:
        test=rules.shard_items.output.test,
        wordnet_source=rules.wordnet.output.source,
    output:
        csv=report(f"{RESULTS}/tables/artifacts.csv", caption="../report/artifacts.rst", category="Dataset"),
        md=f"{RESULTS}/tables/artifacts.md",
        provenance=report(f"{RESULTS}/tables/artifacts.provenance.json", category="Provenance"),
    params:
        config=outcome_config(config),  # the same for any layout (x-layout: clips.shards, evaluate.shards)
    log:
        f"{RESULTS}/logs/artifacts_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/artifacts_table.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/artifacts_table.py"


# the card shows the surface-cue table (rule artifacts_table) as it is: a leaf, so evaluation settings
# that change that table never rebuild the items
rule shard_card:
    input:
        test=rules.shard_items.output.test,
        train_pool=rules.shard_items.output.train_pool,
        words=rules.shard_items.output.words,
        summary=rules.shard_items.output.summary,
        label_synsets=rules.wordnet.output.label_synsets,
        wordnet_source=rules.wordnet.output.source,
        artifacts=rules.artifacts_table.output.md,
    output:
        card=report(f"{RESULTS}/shard/card.md", caption="../report/card.rst", category="Dataset"),
    params:
        config=dataset_config(),
    log:
        f"{RESULTS}/logs/shard_card.log",
    benchmark:
        f"{RESULTS}/benchmarks/shard_card.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/shard_card.py"
