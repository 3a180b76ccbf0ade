# Corpus -> segments (the adapter's table; synth / sfx audio written here) -> clips (decoded once, mono
# 16 kHz, cut, padded) -> features (once per clip per front end, plus one silent clip for `blind`).


rule corpus:
    output:
        segments=f"{RESULTS}/corpus/segments.parquet",
        rejects=f"{RESULTS}/corpus/rejects.parquet",
        files=directory(f"{RESULTS}/corpus/files"),
    params:
        corpus=config["corpus"],
        seed=config["seed"],
    log:
        f"{RESULTS}/logs/corpus.log",
    benchmark:
        f"{RESULTS}/benchmarks/corpus.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/corpus.py"


rule clips:
    input:
        segments=rules.corpus.output.segments,
        corpus_rejects=rules.corpus.output.rejects,
        files=rules.corpus.output.files,
    output:
        clips_parquet=f"{RESULTS}/clips/clips.parquet",
        audio=f"{RESULTS}/clips/audio.npy",
        rejects=f"{RESULTS}/clips/rejects.parquet",
    params:
        corpus=config["corpus"],
        clips=config["clips"],
        seed=config["seed"],
    log:
        f"{RESULTS}/logs/clips.log",
    benchmark:
        f"{RESULTS}/benchmarks/clips.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/clips.py"


rule features:
    input:
        clips_parquet=rules.clips.output.clips_parquet,
        audio=rules.clips.output.audio,
    output:
        features=f"{RESULTS}/features/{{feature_set}}.npy",
        meta=f"{RESULTS}/features/{{feature_set}}.json",
        silence=f"{RESULTS}/features/{{feature_set}}.silence.npy",
    params:
        frontend=lambda w: feature_frontend(w.feature_set),
        params=lambda w: feature_params(w.feature_set),
        sample_rate=config["clips"]["sample_rate"],
        seconds=config["clips"]["seconds"],
    log:
        f"{RESULTS}/logs/features_{{feature_set}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/features_{{feature_set}}.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/features.py"
