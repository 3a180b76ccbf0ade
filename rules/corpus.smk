# Corpus -> segments (the adapter's table; synth / sfx audio written here) -> clips (decoded once, mono
# 16 kHz, cut, padded) -> features (once per clip per front end, plus one silent clip for `blind`).


rule corpus:
    output:
        segments=f"{R}/corpus/segments.parquet",
        rejects=f"{R}/corpus/rejects.parquet",
        files=directory(f"{R}/corpus/files"),
    params:
        corpus=config["corpus"],
        seed=config["seed"],
    log:
        f"{R}/logs/corpus.log",
    benchmark:
        f"{R}/benchmarks/corpus.tsv"
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
        clips_parquet=f"{R}/clips/clips.parquet",
        audio=f"{R}/clips/audio.npy",
        rejects=f"{R}/clips/rejects.parquet",
    params:
        corpus=config["corpus"],
        clips=config["clips"],
        seed=config["seed"],
    log:
        f"{R}/logs/clips.log",
    benchmark:
        f"{R}/benchmarks/clips.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/clips.py"


rule features:
    input:
        clips_parquet=rules.clips.output.clips_parquet,
        audio=rules.clips.output.audio,
    output:
        features=f"{R}/features/{{frontend}}.npy",
        meta=f"{R}/features/{{frontend}}.json",
        silence=f"{R}/features/{{frontend}}.silence.npy",
    params:
        frontend=lambda w: w.frontend,
        # the hf front end is the model's own feature extractor: it needs the model folder
        params=lambda w: {**config["features"].get(w.frontend, {}), **({"model": base_dir()} if w.frontend == "hf" else {})},
        sample_rate=config["clips"]["sample_rate"],
        seconds=config["clips"]["seconds"],
    log:
        f"{R}/logs/features_{{frontend}}.log",
    benchmark:
        f"{R}/benchmarks/features_{{frontend}}.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/features.py"
