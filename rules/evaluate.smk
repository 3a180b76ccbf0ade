# Every (condition, task): base or base + adapter, in the condition's prompt format -> per-item jsonl + summary.


def eval_prompts(w):
    prefix = "eval" if w.task == "shard" else "labeling"
    return f"{R}/prompts/{prefix}_{condition_format(w.condition)}.parquet"


rule evaluate:
    input:
        unpack(lambda w: {"adapter_dir": condition_adapter(w.condition)} if condition_adapter(w.condition) else {}),
        prompts=eval_prompts,
        clips_parquet=rules.clips.output.clips_parquet,
        features=f"{R}/features/{FRONTEND}.npy",
        base_dir=base_dir(),
    output:
        predictions=f"{R}/eval/{{condition}}/{{task}}.jsonl",
        summary=f"{R}/eval/{{condition}}/{{task}}.summary.json",
    params:
        model=config["model"],
        evaluate=config["evaluate"],
        condition=lambda w: w.condition,
        task=lambda w: w.task,
        frontend_params=config["features"].get(FRONTEND, {}),
        clips=config["clips"],
    wildcard_constraints:
        condition="|".join(conditions()),
    threads: workflow.cores
    resources:
        gpu=1 if config["model"]["device"] == "cuda" else 0,
    log:
        f"{R}/logs/evaluate_{{condition}}_{{task}}.log",
    benchmark:
        f"{R}/benchmarks/evaluate_{{condition}}_{{task}}.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/evaluate.py"
