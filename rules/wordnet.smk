# Clip labels + offline WordNet -> one noun synset per label -> its rows of every relation the config's shard.relations lists.


rule wordnet:
    input:
        clips_parquet=rules.clips.output.clips_parquet,
    output:
        label_synsets=f"{RESULTS}/wordnet/label_synsets.parquet",
        relations=f"{RESULTS}/wordnet/relations.parquet",
        source=f"{RESULTS}/wordnet/source.json",
    params:
        wordnet=config["wordnet"],
        curated_map=curated_map(),
    log:
        f"{RESULTS}/logs/wordnet.log",
    benchmark:
        f"{RESULTS}/benchmarks/wordnet.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/wordnet.py"
