# Per-item predictions of every condition -> result tables (csv/md/tex + provenance) and figures, one rule per
# record of shard.reporting.registry.TABLES. (The surface-cue baselines, tables/artifacts, audit the items:
# rules/shard.smk.)
from shard.reporting.registry import TABLES


def keyed_evaluations(task, names, kind, external=False):
    """{(model, seed, condition): its eval file} on `task` of the conditions `names`: what a table reads, by key.
    With `external`, then each external model's imported files of those conditions, keyed by the first seed."""
    keyed = {(model, seed, name): f"{evaluations(model, seed)}/{name}/{task}.{kind}"
             for model in MODELS for seed in SEEDS for name in names}
    imported = {(model, SEEDS[0], name): f"{folder}/{name}/{task}.{kind}"
                for model, folder in EXTERNAL_MODELS.items() for name in names} if external else {}
    return {**keyed, **{key: path for key, path in imported.items() if os.path.exists(path)}}


def report_output(table, fmt, path):
    """The outputs the Snakemake report shows: the numbers and the figure with the table's caption, the provenance."""
    if fmt in ("csv", "png"):
        return report(path, caption=f"../{table.caption}", category="Results")
    return report(path, category="Provenance") if fmt == "provenance" else path


# the workflow's own files a table may read besides the evaluations (registry.Table.data), by name
DATA_FILES = {"test_items": rules.shard_items.output.test, "pretrain_labels": rules.pretrain_prompts.output.labels}


for table in TABLES.values():
    conditions = [c for c in condition_records() if table.reads(c["tasks"])]
    scored = {task: [c["name"] for c in with_task(conditions, task)] for task in table.tasks}
    # what the builder reads, keyed: per-item predictions, and the summaries that name each evaluated model
    keyed = {"predictions": {task: keyed_evaluations(task, names, "jsonl", table.external_models)
                              for task, names in scored.items()}}
    if table.provenance:
        keyed["summaries"] = {task: keyed_evaluations(task, names, "summary.json", table.external_models)
                              for task, names in scored.items()}

    rule:
        name:
            table.rule
        input:
            evaluated=[path for files in keyed.values() for by_key in files.values() for path in by_key.values()],
            **({"wordnet_source": rules.wordnet.output.source} if table.provenance else {}),
            **{name: DATA_FILES[name] for name in table.data},
        output:
            **{fmt: report_output(table, fmt, path) for fmt, path in table.outputs(RESULTS).items()},
        params:
            table=table.name,
            **keyed,
            conditions=conditions,
            config=outcome_config(config),  # the same for any layout (x-layout: clips.shards, evaluate.shards)
        log:
            f"{RESULTS}/logs/{table.rule}.log",
        benchmark:
            f"{RESULTS}/benchmarks/{table.rule}.tsv"
        conda:
            CONDA_ENV
        script:
            "scripts/table.py"
