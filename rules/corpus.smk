# Corpus -> clips (decoded once, mono 16 kHz, cut, padded) -> features (once per clip per front end).


rule clips:
    output:
        clips_parquet=f"{R}/clips/clips.parquet",
        audio=f"{R}/clips/audio.npy",
        rejects=f"{R}/clips/rejects.parquet",
    params:
        corpus=config["corpus"],
        clips=config["clips"],
        seed=config["seed"],
        results=R,
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
    params:
        params=lambda w: config["features"].get(w.frontend, {}),
        sample_rate=config["clips"]["sample_rate"],
    log:
        f"{R}/logs/features_{{frontend}}.log",
    benchmark:
        f"{R}/benchmarks/features_{{frontend}}.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/features.py"
