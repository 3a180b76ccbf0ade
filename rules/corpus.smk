# Corpus -> segments (the adapter's table; synth / sfx audio written here) -> clips, in clips.shards jobs
# (decoded once, mono 16 kHz, cut, padded; gathered as metadata: clips.parquet and the clip index) ->
# features (once per clip per front end and shard, plus one silent clip for `blind`).


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


rule clips_plan:
    input:
        segments=rules.corpus.output.segments,
    output:
        plan=f"{RESULTS}/clips/plan.json",
    params:
        shards=config["clips"]["shards"],
    log:
        f"{RESULTS}/logs/clips_plan.log",
    benchmark:
        f"{RESULTS}/benchmarks/clips_plan.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/clips_plan.py"


rule clips_shard:
    input:
        segments=rules.corpus.output.segments,
        files=rules.corpus.output.files,
        plan=rules.clips_plan.output.plan,
    output:
        # decoded audio of every clip of the shard: deleted once features and the test clips' audio exist
        audio=temp(f"{RESULTS}/clips/shards/{{shard}}.npy"),
        shard_clips=f"{RESULTS}/clips/shards/{{shard}}.parquet",
        shard_rejects=f"{RESULTS}/clips/shards/{{shard}}.rejects.parquet",
    params:
        shard=lambda w: int(w.shard),
        corpus=config["corpus"],
        clips=config["clips"],
    log:
        f"{RESULTS}/logs/clips_shard/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/clips_shard/{{shard}}.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/clips_shard.py"


rule clips:
    input:
        corpus_rejects=rules.corpus.output.rejects,
        shard_clips=shard_files(rules.clips_shard.output.shard_clips),
        shard_rejects=shard_files(rules.clips_shard.output.shard_rejects),
    output:
        clips_parquet=f"{RESULTS}/clips/clips.parquet",
        rejects=f"{RESULTS}/clips/rejects.parquet",
        index=f"{RESULTS}/clips/index.parquet",  # clip_id -> (shard, shard_row): what readers of shards take
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


rule keep_test_audio:
    input:
        clips_parquet=rules.clips.output.clips_parquet,
        index=rules.clips.output.index,
        shard_audio=shard_files(rules.clips_shard.output.audio),
    output:
        test_audio=f"{RESULTS}/clips/test_audio.npy",  # the test clips (what the browser and export play)
    log:
        f"{RESULTS}/logs/keep_test_audio.log",
    benchmark:
        f"{RESULTS}/benchmarks/keep_test_audio.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/keep_test_audio.py"


rule features_shard:
    input:
        audio=rules.clips_shard.output.audio,
    output:
        features=f"{RESULTS}/features/{{feature_set}}/{{shard}}.npy",
    params:
        frontend=lambda w: feature_frontend(w.feature_set),
        params=lambda w: feature_params(w.feature_set),
        sample_rate=config["clips"]["sample_rate"],
    log:
        f"{RESULTS}/logs/features_shard/{{feature_set}}/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/features_shard/{{feature_set}}/{{shard}}.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/features_shard.py"


rule features:
    input:
        clips_parquet=rules.clips.output.clips_parquet,
        index=rules.clips.output.index,
        shards=lambda w: shard_files(f"{RESULTS}/features/{w.feature_set}/{{shard}}.npy"),
    output:
        meta=f"{RESULTS}/features/{{feature_set}}.json",  # what readers name (shard.dataset.features.FeatureStore)
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
