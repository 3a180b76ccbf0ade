# Clip labels + offline WordNet -> one noun synset per label -> its rows of every relation the config's shard.relations lists.


rule wordnet:
    input:
        clips_parquet=rules.clips.output.clips_parquet,
    output:
        label_synsets=f"{R}/wordnet/label_synsets.parquet",
        relations=f"{R}/wordnet/relations.parquet",
        source=f"{R}/wordnet/source.json",
    params:
        wordnet=config["wordnet"],
        curated_map=curated_map(),
    log:
        f"{R}/logs/wordnet.log",
    benchmark:
        f"{R}/benchmarks/wordnet.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/wordnet.py"
