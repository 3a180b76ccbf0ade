# Per-item predictions of every condition -> result tables (csv/md/tex + provenance) and the trade-off figure;
# the test items alone -> the surface-cue baselines (tables/artifacts).


def eval_files(task, conds=None, kind="jsonl"):
    """Per-item predictions (or summaries) on `task` of `conds` (default: every condition scored on it), model
    by model, each model's conditions in table order with their seeds together: what shard.tables reads, in
    the order of condition_records()."""
    return [f"{R}/eval/{m}/seed{s}/{c}/{task}.{kind}" for m in MODELS for c in conds or scored_on(task) for s in SEEDS]


def predictions(task, conds=None):
    return eval_files(task, conds)


def summaries(task, conds=None):
    return eval_files(task, conds, "summary.json")


# the trade-off needs both tasks of a condition: the controls (semantic only) are not on it
BOTH_TASKS = scored_on("labelling")


rule semantic_table:
    input:
        predictions=predictions("semantic"),
        summaries=summaries("semantic"),
        wordnet_source=rules.wordnet.output.source,
    output:
        csv=report(f"{R}/tables/semantic.csv", caption="../report/semantic.rst", category="Results"),
        md=f"{R}/tables/semantic.md",
        tex=f"{R}/tables/semantic.tex",
        provenance=report(f"{R}/tables/semantic.provenance.json", category="Provenance"),
    params:
        conditions=condition_records(scored_on("semantic")),
        config=config,
    log:
        f"{R}/logs/semantic_table.log",
    benchmark:
        f"{R}/benchmarks/semantic_table.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/semantic_table.py"


rule labelling_table:
    input:
        predictions=predictions("labelling"),
        summaries=summaries("labelling"),
        wordnet_source=rules.wordnet.output.source,
    output:
        csv=report(f"{R}/tables/labelling.csv", caption="../report/labelling.rst", category="Results"),
        md=f"{R}/tables/labelling.md",
        tex=f"{R}/tables/labelling.tex",
        provenance=report(f"{R}/tables/labelling.provenance.json", category="Provenance"),
    params:
        conditions=condition_records(scored_on("labelling")),
        config=config,
    log:
        f"{R}/logs/labelling_table.log",
    benchmark:
        f"{R}/benchmarks/labelling_table.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/labelling_table.py"


rule scaling_table:
    input:
        semantic_predictions=predictions("semantic", BOTH_TASKS),
        labelling_predictions=predictions("labelling", BOTH_TASKS),
        summaries=summaries("semantic", BOTH_TASKS) + summaries("labelling", BOTH_TASKS),
        wordnet_source=rules.wordnet.output.source,
    output:
        csv=report(f"{R}/tables/scaling.csv", caption="../report/scaling.rst", category="Results"),
        md=f"{R}/tables/scaling.md",
        provenance=report(f"{R}/tables/scaling.provenance.json", category="Provenance"),
    params:
        conditions=condition_records(BOTH_TASKS),
        scales=SCALES,
        config=config,
    log:
        f"{R}/logs/scaling_table.log",
    benchmark:
        f"{R}/benchmarks/scaling_table.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/scaling_table.py"


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


rule tradeoff_figure:
    input:
        semantic_predictions=predictions("semantic", BOTH_TASKS),
        labelling_predictions=predictions("labelling", BOTH_TASKS),
    output:
        png=report(f"{R}/figures/tradeoff.png", caption="../report/tradeoff.rst", category="Results"),
    params:
        conditions=condition_records(BOTH_TASKS),
        scales=SCALES,
        config=config,
    log:
        f"{R}/logs/tradeoff_figure.log",
    benchmark:
        f"{R}/benchmarks/tradeoff_figure.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/tradeoff_figure.py"


rule perception_table:
    input:
        semantic_predictions=predictions("semantic"),
        labelling_predictions=predictions("labelling"),
        summaries=summaries("semantic") + summaries("labelling"),
        wordnet_source=rules.wordnet.output.source,
    output:
        csv=report(f"{R}/tables/perception.csv", caption="../report/perception.rst", category="Results"),
        md=f"{R}/tables/perception.md",
        provenance=report(f"{R}/tables/perception.provenance.json", category="Provenance"),
    params:
        conditions=condition_records(scored_on("semantic")),
        config=config,
    log:
        f"{R}/logs/perception_table.log",
    benchmark:
        f"{R}/benchmarks/perception_table.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/perception_table.py"


rule models_table:
    input:
        semantic_predictions=predictions("semantic"),
        labelling_predictions=predictions("labelling"),
        summaries=summaries("semantic") + summaries("labelling"),
        wordnet_source=rules.wordnet.output.source,
    output:
        csv=report(f"{R}/tables/models.csv", caption="../report/models.rst", category="Results"),
        md=f"{R}/tables/models.md",
        provenance=report(f"{R}/tables/models.provenance.json", category="Provenance"),
    params:
        conditions=condition_records(scored_on("semantic")),
        config=config,
    log:
        f"{R}/logs/models_table.log",
    benchmark:
        f"{R}/benchmarks/models_table.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/models_table.py"


rule forgetting_table:
    input:
        semantic_predictions=predictions("semantic", BOTH_TASKS),
        labelling_predictions=predictions("labelling", BOTH_TASKS),
        summaries=summaries("semantic", BOTH_TASKS) + summaries("labelling", BOTH_TASKS),
        wordnet_source=rules.wordnet.output.source,
    output:
        csv=report(f"{R}/tables/forgetting.csv", caption="../report/forgetting.rst", category="Results"),
        md=f"{R}/tables/forgetting.md",
        png=report(f"{R}/figures/forgetting.png", caption="../report/forgetting.rst", category="Results"),
        provenance=report(f"{R}/tables/forgetting.provenance.json", category="Provenance"),
    params:
        conditions=condition_records(BOTH_TASKS),
        config=config,
    log:
        f"{R}/logs/forgetting_table.log",
    benchmark:
        f"{R}/benchmarks/forgetting_table.tsv"
    conda:
        CONDA_ENV
    script:
        "scripts/forgetting_table.py"
