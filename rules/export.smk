# The test items outside the workflow: a static page to audit them by ear, the Hugging Face
# `datasets` layout (items + clips as an Audio feature + dataset card), and tasks for lmms-eval and lm-eval.


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


# SHARD in the harnesses people already run (shard.harness.tasks): an lmms-eval task group over the export
# (audio, answers generated and parsed as evaluate.mode: generate parses them) and lm-eval's text oracle.
rule export_lmms_eval:
    input:
        hf=rules.export_hf.output.out_dir,
    output:
        out_dir=directory(f"{RESULTS}/export/lmms_eval/shard"),
    params:
        max_new_tokens=config["evaluate"]["max_new_tokens"],
    log:
        f"{RESULTS}/logs/export_lmms_eval.log",
    benchmark:
        f"{RESULTS}/benchmarks/export_lmms_eval.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/export_lmms_eval.py"


rule export_lm_eval:
    input:
        hf=rules.export_hf.output.out_dir,
    output:
        out_dir=directory(f"{RESULTS}/export/lm_eval/shard_text_oracle"),
    log:
        f"{RESULTS}/logs/export_lm_eval.log",
    benchmark:
        f"{RESULTS}/benchmarks/export_lm_eval.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/export_lm_eval.py"
