# Every (model, seed, condition, task): base or base + adapter, in the condition's prompt format, with the clip or
# silence in place of the audio -> per-item jsonl + summary. And what the base model learned in pretraining.


def adapter(w):
    run = CONDITIONS[w.condition].run
    return {"adapter_dir": f"{models(w.model, w.seed)}/ft_{run}"} if run else {}


rule evaluate:
    input:
        unpack(adapter),
        prompts=lambda w: f"{RESULTS}/prompts/{w.task}_{CONDITIONS[w.condition].prompt_format}.parquet",
        clips_parquet=rules.clips.output.clips_parquet,
        features=features,
        silence=lambda w: features(w, "silence.npy"),
        base_dir=base_dir,
    output:
        predictions=f"{evaluations()}/{{condition}}/{{task}}.jsonl",
        summary=f"{evaluations()}/{{condition}}/{{task}}.summary.json",
    params:
        model=lambda w: MODELS[w.model]["model"],
        evaluate=config["evaluate"],
        condition=lambda w: CONDITIONS[w.condition].as_dict(),
        task=lambda w: w.task,
    threads: config["threads"]
    resources:
        gpu=gpus,
    log:
        f"{RESULTS}/logs/{{model}}/seed{{seed}}/evaluate_{{condition}}_{{task}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{model}}/seed{{seed}}/evaluate_{{condition}}_{{task}}.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/evaluate.py"


rule base_metrics:
    input:
        prompts=rules.pretrain_prompts.output.out,
        clips_parquet=rules.clips.output.clips_parquet,
        features=features,
        base_dir=base_dir,
    output:
        metrics=f"{evaluations()}/base_model.json",
    params:
        model=lambda w: MODELS[w.model]["model"],
        evaluate=config["evaluate"],
        seed=lambda w: int(w.seed),
    threads: config["threads"]
    resources:
        gpu=gpus,
    log:
        f"{RESULTS}/logs/{{model}}/seed{{seed}}/base_metrics.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{model}}/seed{{seed}}/base_metrics.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/base_metrics.py"
