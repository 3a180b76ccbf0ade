# Every (model, seed, condition, task): base or base + adapter, in the condition's prompt format, with the clip or
# silence in place of the audio -> per-item jsonl + summary (one job, or evaluate.shards jobs and a gather: the same
# files). And what the base model learned in pretraining.


def adapter(w):
    run = CONDITIONS[w.condition].run
    return {"adapter_dir": f"{models(w.model, w.seed)}/ft_{run}"} if run else {}


def scored_inputs(w):
    """What scoring one (model, seed, condition, task) reads: the prompts in the condition's format, the clips'
    features (or silence), the base model and the condition's adapter."""
    return {**adapter(w), "prompts": f"{RESULTS}/prompts/{w.task}_{CONDITIONS[w.condition].prompt_format}.parquet",
            "clips_parquet": rules.clips.output.clips_parquet, "features": features(w),
            "silence": features(w, "silence.npy"), "base_dir": base_dir(w)}


EVALUATED = {"predictions": f"{evaluations()}/{{condition}}/{{task}}.jsonl",
             "summary": f"{evaluations()}/{{condition}}/{{task}}.summary.json"}
SCORING = {"model": lambda w: MODELS[w.model]["model"], "evaluate": config["evaluate"],
           "condition": lambda w: CONDITIONS[w.condition].as_dict(), "task": lambda w: w.task}
EVAL_SHARDS = config["evaluate"]["shards"]


if EVAL_SHARDS == 1:

    rule evaluate:
        input:
            unpack(scored_inputs),
        output:
            **EVALUATED,
        params:
            **SCORING,
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

else:
    # evaluate.shards > 1: one job per block of whole batches of the prompt table (shard.evaluation.shards), its
    # records kept until the gather has written the same jsonl and summary as rule `evaluate`
    def shard_records(shard="{shard}"):
        return f"{evaluations()}/{{condition}}/{{task}}.shards/{shard}-of-{EVAL_SHARDS}.jsonl"

    rule evaluate_shard:
        input:
            unpack(scored_inputs),
        output:
            records=temp(shard_records()),
        params:
            **SCORING,
            shard=lambda w: int(w.shard),
            shards=EVAL_SHARDS,
        wildcard_constraints:
            shard=r"\d+",
        threads: config["threads"]
        resources:
            gpu=gpus,
        log:
            f"{RESULTS}/logs/{{model}}/seed{{seed}}/evaluate_{{condition}}_{{task}}.shard{{shard}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/{{model}}/seed{{seed}}/evaluate_{{condition}}_{{task}}.shard{{shard}}.tsv"
        conda:
            CONDA_ENV
        script:
            "scripts/evaluate_shard.py"

    rule evaluate_gather:
        # reads the shards' records and writes two files: on a cluster it runs beside snakemake, not as a Slurm job
        localrule: True
        input:
            unpack(adapter),
            records=[shard_records(k) for k in range(EVAL_SHARDS)],
            prompts=lambda w: scored_inputs(w)["prompts"],
            clips_parquet=rules.clips.output.clips_parquet,
            base_dir=base_dir,
        output:
            **EVALUATED,
        params:
            **SCORING,
        log:
            f"{RESULTS}/logs/{{model}}/seed{{seed}}/evaluate_{{condition}}_{{task}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/{{model}}/seed{{seed}}/evaluate_{{condition}}_{{task}}.tsv"
        conda:
            CONDA_ENV
        script:
            "scripts/evaluate_gather.py"


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
