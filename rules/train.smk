# Base model (mini_ltu pretrained here, unless model.base names a checkpoint) -> LoRA adapter per scale.


rule pretrain_base:
    input:
        clips_parquet=rules.clips.output.clips_parquet,
        features=f"{R}/features/{FRONTEND}.npy",
        words=rules.shard_items.output.words,
    output:
        base_dir=directory(f"{R}/models/base"),
    params:
        pretrain=config["pretrain"],
        model=config["model"],
        seed=config["seed"],
    threads: workflow.cores
    resources:
        gpu=1 if config["model"]["device"] == "cuda" else 0,
    log:
        f"{R}/logs/pretrain_base.log",
    benchmark:
        f"{R}/benchmarks/pretrain_base.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/pretrain_base.py"


rule finetune:
    input:
        base_dir=base_dir(),
        prompts=f"{R}/prompts/train_{{scale}}.parquet",
        clips_parquet=rules.clips.output.clips_parquet,
        features=f"{R}/features/{FRONTEND}.npy",
        after_audit=rules.leakage_audit.output.report,  # never train on a leaking set
    output:
        adapter_dir=directory(f"{R}/models/ft_{{scale}}"),
    params:
        finetune=config["finetune"],
        model=config["model"],
        seed=config["seed"],
    threads: workflow.cores
    resources:
        gpu=config["finetune"]["processes"] if config["model"]["device"] == "cuda" else 0,
    log:
        f"{R}/logs/finetune_{{scale}}.log",
    benchmark:
        f"{R}/benchmarks/finetune_{{scale}}.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/finetune.py"
