# Per-item predictions of every condition -> result tables (csv/md/tex + provenance) and figures, one rule per
# record of shard.reporting.registry.TABLES; the test items alone -> the surface-cue baselines (tables/artifacts).
from shard.reporting.registry import TABLES


def evaluations(task, names, kind):
    """{(model, seed, condition): its eval file} on `task` of the conditions `names`: what a table reads, by key."""
    return {(model, seed, name): f"{R}/eval/{model}/seed{seed}/{name}/{task}.{kind}"
            for model in MODELS for seed in SEEDS for name in names}


def report_output(table, fmt, path):
    """The outputs the Snakemake report shows: the numbers and the figure with the table's caption, the provenance."""
    if fmt in ("csv", "png"):
        return report(path, caption=f"../{table.caption}", category="Results")
    return report(path, category="Provenance") if fmt == "provenance" else path


for table in TABLES.values():
    conditions = [c for c in condition_records() if table.reads(c["tasks"])]
    scored = {task: [c["name"] for c in with_task(conditions, task)] for task in table.tasks}
    # what the builder reads, keyed: per-item predictions, and the summaries that name each evaluated model
    keyed = {"predictions": {task: evaluations(task, names, "jsonl") for task, names in scored.items()}}
    if table.provenance:
        keyed["summaries"] = {task: evaluations(task, names, "summary.json") for task, names in scored.items()}

    rule:
        name:
            table.rule
        input:
            evaluated=[path for files in keyed.values() for by_key in files.values() for path in by_key.values()],
            **({"wordnet_source": rules.wordnet.output.source} if table.provenance else {}),
        output:
            **{fmt: report_output(table, fmt, path) for fmt, path in table.outputs(R).items()},
        params:
            table=table.name,
            **keyed,
            conditions=conditions,
            config=config,
        log:
            f"{R}/logs/{table.rule}.log",
        benchmark:
            f"{R}/benchmarks/{table.rule}.tsv"
        conda:
            CONDA_ENV
        script:
            "scripts/table.py"


rule artifacts_table:
    input:
        test=rules.shard_items.output.test,
        wordnet_source=rules.wordnet.output.source,
    output:
        csv=report(f"{R}/tables/artifacts.csv", caption="../report/artifacts.rst", category="Dataset"),
        md=f"{R}/tables/artifacts.md",
        provenance=report(f"{R}/tables/artifacts.provenance.json", category="Provenance"),
    params:
        config=config,
    log:
        f"{R}/logs/artifacts_table.log",
    benchmark:
        f"{R}/benchmarks/artifacts_table.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/artifacts_table.py"
