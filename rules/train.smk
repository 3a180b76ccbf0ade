# Per model (config `models`) and seed (config `seeds`): base model (mini_ltu pretrained here, unless model.base names a checkpoint)
# -> LoRA adapter per fine-tuning run (scale x replay x order). The items and training prompts are the same
# for every seed.


rule pretrain_base:
    input:
        prompts=rules.pretrain_prompts.output.out,
        clips_parquet=rules.clips.output.clips_parquet,
        features=features,
        words=rules.shard_items.output.words,
        leakage_audit=rules.leakage_audit.output.report,  # never pretrain on a leaking set
    output:
        base_dir=directory(f"{models()}/base"),
    params:
        pretrain=lambda w: MODELS[w.model]["pretrain"],
        model=lambda w: MODELS[w.model]["model"],
        seed=lambda w: int(w.seed),
    threads: config["threads"]
    resources:
        gpu=gpus,
    log:
        f"{RESULTS}/logs/{{model}}/seed{{seed}}/pretrain_base.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{model}}/seed{{seed}}/pretrain_base.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/pretrain_base.py"


rule finetune:
    input:
        base_dir=base_dir,
        prompts=lambda w: f"{RESULTS}/prompts/train_{RUNS[w.run].prompt_set}.parquet",
        clips_parquet=rules.clips.output.clips_parquet,
        features=features,
        leakage_audit=rules.leakage_audit.output.report,  # never train on a leaking set
    output:
        adapter_dir=directory(f"{models()}/ft_{{run}}"),
    params:
        # one process, or torchrun with finetune.processes DDP processes (one per GPU; gloo on CPU)
        launch=lambda w: launcher(MODELS[w.model]["finetune"]["processes"]),
        settings=lambda w: json.dumps({**{k: MODELS[w.model][k] for k in ("finetune", "model")}, "seed": int(w.seed),
                                       "order": RUNS[w.run].order}, sort_keys=True),
    threads: config["threads"]
    resources:
        gpu=lambda w: MODELS[w.model]["finetune"]["processes"] * gpus(w),
    log:
        f"{RESULTS}/logs/{{model}}/seed{{seed}}/finetune_{{run}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{model}}/seed{{seed}}/finetune_{{run}}.tsv"
    conda:
        CONDA_ENV
    shell:
        "{params.launch} -m shard.models.finetune --base-dir {input.base_dir:q} --prompts {input.prompts:q}"
        " --clips {input.clips_parquet:q} --features {input.features:q} --adapter-dir {output.adapter_dir:q}"
        " --settings {params.settings:q} --threads {threads} > {log:q} 2>&1"
