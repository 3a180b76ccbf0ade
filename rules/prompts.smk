# SHARD items -> evaluation prompts (semantic and labelling, original + interleaved), mini_ltu's
# pretraining prompts, and interleaved training prompts per scale and replay fraction (audited for leaks).


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
        out=f"{R}/prompts/train_{{prompt_set}}.parquet",
    params:
        n=lambda w: PROMPT_SETS[w.prompt_set].n_prompts,
        name=lambda w: w.prompt_set,
        seed=config["seed"],
        replay_fraction=lambda w: PROMPT_SETS[w.prompt_set].replay,
        multi_clip_fraction=config["prompts"]["multi_clip_fraction"],
    log:
        f"{R}/logs/train_prompts_{{prompt_set}}.log",
    benchmark:
        f"{R}/benchmarks/train_prompts_{{prompt_set}}.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/train_prompts.py"


rule leakage_audit:
    input:
        test=rules.shard_items.output.test,
        clips_parquet=rules.clips.output.clips_parquet,
        label_synsets=rules.wordnet.output.label_synsets,
        train=expand(f"{R}/prompts/train_{{p}}.parquet", p=PROMPT_SETS),
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
