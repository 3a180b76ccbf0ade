# SHARD items -> evaluation prompts (semantic and labelling, original + interleaved), mini_ltu's
# pretraining prompts, and interleaved training prompts per scale and replay fraction (all audited for leaks).


rule eval_prompts:
    input:
        test=rules.shard_items.output.test,
        clips_parquet=rules.clips.output.clips_parquet,
    output:
        **{f"{t}_{f}": f"{RESULTS}/prompts/{t}_{f}.parquet" for t in TASKS for f in ("original", "interleaved")},
    log:
        f"{RESULTS}/logs/eval_prompts.log",
    benchmark:
        f"{RESULTS}/benchmarks/eval_prompts.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/eval_prompts.py"


rule pretrain_prompts:
    input:
        clips_parquet=rules.clips.output.clips_parquet,
        words=rules.shard_items.output.words,
        label_synsets=rules.wordnet.output.label_synsets,
    output:
        out=f"{RESULTS}/prompts/pretrain.parquet",
        labels=f"{RESULTS}/prompts/pretrain_labels.parquet",
    params:
        seed=config["seed"],
        unknown_label_fraction=config["shard"]["unknown_label_fraction"],
    log:
        f"{RESULTS}/logs/pretrain_prompts.log",
    benchmark:
        f"{RESULTS}/benchmarks/pretrain_prompts.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/pretrain_prompts.py"


rule train_prompts:
    input:
        train_pool=rules.shard_items.output.train_pool,
        clips_parquet=rules.clips.output.clips_parquet,
    output:
        out=f"{RESULTS}/prompts/train_{{prompt_set}}.parquet",
    params:
        n=lambda w: PROMPT_SETS[w.prompt_set].n_prompts,
        name=lambda w: w.prompt_set,
        seed=config["seed"],
        replay_fraction=lambda w: PROMPT_SETS[w.prompt_set].replay,
        multi_clip_fraction=config["prompts"]["multi_clip_fraction"],
    log:
        f"{RESULTS}/logs/train_prompts_{{prompt_set}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_prompts_{{prompt_set}}.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/train_prompts.py"


rule leakage_audit:
    input:
        test=rules.shard_items.output.test,
        clips_parquet=rules.clips.output.clips_parquet,
        label_synsets=rules.wordnet.output.label_synsets,
        train=expand(f"{RESULTS}/prompts/train_{{p}}.parquet", p=PROMPT_SETS),
        pretrain=rules.pretrain_prompts.output.out,
    output:
        report=f"{RESULTS}/prompts/leakage_audit.json",
    params:
        synset_disjoint=config["shard"]["synset_disjoint"],
    log:
        f"{RESULTS}/logs/leakage_audit.log",
    benchmark:
        f"{RESULTS}/benchmarks/leakage_audit.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/leakage_audit.py"
