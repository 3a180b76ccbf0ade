# Every (condition, task): base or base + adapter, in the condition's prompt format, with the clip or
# silence in place of the audio -> per-item jsonl + summary. And what the base model learned in pretraining.


def adapter(w):
    scale = CONDITIONS[w.condition].scale
    return {"adapter_dir": f"{R}/models/ft_{scale}"} if scale else {}


rule evaluate:
    input:
        unpack(adapter),
        prompts=lambda w: f"{R}/prompts/{w.task}_{CONDITIONS[w.condition].prompt_format}.parquet",
        clips_parquet=rules.clips.output.clips_parquet,
        features=f"{R}/features/{FRONTEND}.npy",
        silence=f"{R}/features/{FRONTEND}.silence.npy",
        base_dir=base_dir(),
    output:
        predictions=f"{R}/eval/{{condition}}/{{task}}.jsonl",
        summary=f"{R}/eval/{{condition}}/{{task}}.summary.json",
    params:
        model=config["model"],
        evaluate=config["evaluate"],
        condition=lambda w: CONDITIONS[w.condition].as_dict(),
        task=lambda w: w.task,
    threads: config["threads"]
    resources:
        gpu=GPU,
    log:
        f"{R}/logs/evaluate_{{condition}}_{{task}}.log",
    benchmark:
        f"{R}/benchmarks/evaluate_{{condition}}_{{task}}.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/evaluate.py"


rule base_metrics:
    input:
        prompts=rules.pretrain_prompts.output.out,
        clips_parquet=rules.clips.output.clips_parquet,
        features=f"{R}/features/{FRONTEND}.npy",
        base_dir=base_dir(),
    output:
        metrics=f"{R}/eval/base_model.json",
    params:
        model=config["model"],
        evaluate=config["evaluate"],
        seed=config["seed"],
    threads: config["threads"]
    resources:
        gpu=GPU,
    log:
        f"{R}/logs/base_metrics.log",
    benchmark:
        f"{R}/benchmarks/base_metrics.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/base_metrics.py"
