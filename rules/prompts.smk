# SHARD items -> evaluation prompts (semantic and labelling, original + interleaved), mini_ltu's
# pretraining prompts, and interleaved training prompts per scale (audited for leaks).


rule eval_prompts:
    input:
        test=rules.shard_items.output.test,
        clips_parquet=rules.clips.output.clips_parquet,
    output:
        **{f"{t}_{f}": f"{R}/prompts/{t}_{f}.parquet" for t in TASKS for f in ("original", "interleaved")},
    log:
        f"{R}/logs/eval_prompts.log",
    benchmark:
        f"{R}/benchmarks/eval_prompts.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/eval_prompts.py"


rule pretrain_prompts:
    input:
        clips_parquet=rules.clips.output.clips_parquet,
        words=rules.shard_items.output.words,
    output:
        out=f"{R}/prompts/pretrain.parquet",
    params:
        seed=config["seed"],
    log:
        f"{R}/logs/pretrain_prompts.log",
    benchmark:
        f"{R}/benchmarks/pretrain_prompts.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/pretrain_prompts.py"


rule train_prompts:
    input:
        train_pool=rules.shard_items.output.train_pool,
        clips_parquet=rules.clips.output.clips_parquet,
    output:
        out=f"{R}/prompts/train_{{scale}}.parquet",
    params:
        n=lambda w: SCALES[w.scale],
        name=lambda w: w.scale,
        seed=config["seed"],
        replay_fraction=config["prompts"]["replay_fraction"],
        multi_clip_fraction=config["prompts"]["multi_clip_fraction"],
    log:
        f"{R}/logs/train_prompts_{{scale}}.log",
    benchmark:
        f"{R}/benchmarks/train_prompts_{{scale}}.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/train_prompts.py"


rule leakage_audit:
    input:
        test=rules.shard_items.output.test,
        clips_parquet=rules.clips.output.clips_parquet,
        label_synsets=rules.wordnet.output.label_synsets,
        train=expand(f"{R}/prompts/train_{{scale}}.parquet", scale=SCALES),
    output:
        report=f"{R}/prompts/leakage_audit.json",
    params:
        synset_disjoint=config["shard"]["synset_disjoint"],
    log:
        f"{R}/logs/leakage_audit.log",
    benchmark:
        f"{R}/benchmarks/leakage_audit.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/leakage_audit.py"
