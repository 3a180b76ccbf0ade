# The test items outside the workflow: a static page to audit them by ear, and the Hugging Face
# `datasets` layout (items + clips as an Audio feature + dataset card).


rule shard_browser:
    input:
        test=rules.shard_items.output.test,
        clips_parquet=rules.clips.output.clips_parquet,
        audio=rules.keep_test_audio.output.test_audio,
        label_synsets=rules.wordnet.output.label_synsets,
        # every model's answers, the first seed's
        predictions=[f"{evaluations(m, SEEDS[0])}/{c}/semantic.jsonl" for m in MODELS for c in scored_on("semantic")],
    output:
        out_dir=directory(f"{RESULTS}/shard/browser"),
    params:
        columns=[display_name(m, c, len(MODELS) > 1) for m in MODELS for c in scored_on("semantic")],
        sample_rate=config["clips"]["sample_rate"],
    log:
        f"{RESULTS}/logs/shard_browser.log",
    benchmark:
        f"{RESULTS}/benchmarks/shard_browser.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/shard_browser.py"


rule export_hf:
    input:
        test=rules.shard_items.output.test,
        clips_parquet=rules.clips.output.clips_parquet,
        audio=rules.keep_test_audio.output.test_audio,
        label_synsets=rules.wordnet.output.label_synsets,
        card=rules.shard_card.output.card,
    output:
        out_dir=directory(f"{RESULTS}/export/hf"),
    params:
        sample_rate=config["clips"]["sample_rate"],
    log:
        f"{RESULTS}/logs/export_hf.log",
    benchmark:
        f"{RESULTS}/benchmarks/export_hf.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/export_hf.py"
