# Per-item predictions of every condition -> result tables (csv/md/tex + provenance) and the trade-off figure.


def predictions(task, conds=None):
    return expand(f"{R}/eval/{{c}}/{task}.jsonl", c=conds or conditions())


def summaries(task, conds=None):
    return expand(f"{R}/eval/{{c}}/{task}.summary.json", c=conds or conditions())


def scaling_conditions():
    return ["zeroshot_interleaved", *[f"ft_{s}" for s in SCALES]]


rule semantic_table:
    input:
        predictions=predictions("shard"),
        summaries=summaries("shard"),
        wordnet_source=rules.wordnet.output.source,
    output:
        csv=report(f"{R}/tables/semantic.csv", caption="../report/semantic.rst", category="Results"),
        md=f"{R}/tables/semantic.md",
        tex=f"{R}/tables/semantic.tex",
        provenance=report(f"{R}/tables/semantic.provenance.json", category="Provenance"),
    params:
        conditions=conditions(),
        config=config,
    log:
        f"{R}/logs/semantic_table.log",
    conda:
        CONDA_ENV
    script:
        "scripts/semantic_table.py"


rule labeling_table:
    input:
        predictions=predictions("labeling"),
        summaries=summaries("labeling"),
        wordnet_source=rules.wordnet.output.source,
    output:
        csv=report(f"{R}/tables/labeling.csv", caption="../report/labeling.rst", category="Results"),
        md=f"{R}/tables/labeling.md",
        tex=f"{R}/tables/labeling.tex",
        provenance=report(f"{R}/tables/labeling.provenance.json", category="Provenance"),
    params:
        conditions=conditions(),
        config=config,
    log:
        f"{R}/logs/labeling_table.log",
    conda:
        CONDA_ENV
    script:
        "scripts/labeling_table.py"


rule scaling_table:
    input:
        semantic_predictions=predictions("shard", scaling_conditions()),
        labeling_predictions=predictions("labeling", scaling_conditions()),
        summaries=summaries("shard", scaling_conditions()) + summaries("labeling", scaling_conditions()),
        wordnet_source=rules.wordnet.output.source,
    output:
        csv=report(f"{R}/tables/scaling.csv", caption="../report/scaling.rst", category="Results"),
        md=f"{R}/tables/scaling.md",
        provenance=report(f"{R}/tables/scaling.provenance.json", category="Provenance"),
    params:
        conditions=scaling_conditions(),
        scales=SCALES,
        config=config,
    log:
        f"{R}/logs/scaling_table.log",
    conda:
        CONDA_ENV
    script:
        "scripts/scaling_table.py"


rule tradeoff_figure:
    input:
        semantic_predictions=predictions("shard"),
        labeling_predictions=predictions("labeling"),
    output:
        png=report(f"{R}/figures/tradeoff.png", caption="../report/tradeoff.rst", category="Results"),
    params:
        conditions=conditions(),
        scales=SCALES,
        config=config,
    log:
        f"{R}/logs/tradeoff_figure.log",
    conda:
        CONDA_ENV
    script:
        "scripts/tradeoff_figure.py"
