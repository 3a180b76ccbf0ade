# Helpers shared by every rule file: config validation, paths, the study's conditions, targets.
import json
import os
import sys
from pathlib import Path

from snakemake.settings.types import DeploymentMethod

# the package lives in src/: importable here, and in every job (local, conda or cluster) via PYTHONPATH
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)

from shard.common import ShardError
from shard.conditions import TASKS, study_conditions, training_runs, with_task
from shard.config import scale_name, validate_config

try:
    validate_config(config)  # fills the schema's defaults; a bad config stops here, before any job
except ShardError as err:
    raise WorkflowError(f"invalid configuration: {err}")

R = config["results"]
# model replicates: each seed pretrains (mini_ltu), fine-tunes and evaluates its own models on the same items
SEEDS = config["seeds"]
SCALES = {scale_name(n): n for n in config["prompts"]["train_scales"]}
RECIPES = (config["prompts"]["replay_fractions"], config["prompts"]["orders"])
# fine-tuning runs (scale x replay fraction x order) and the training-prompt files they read (scale x replay)
RUNS = {r.name: r for r in training_runs(SCALES, *RECIPES)}
PROMPT_SETS = {r.prompt_set: r for r in RUNS.values()}
CONDITIONS = {c.name: c for c in study_conditions(SCALES, config["evaluate"]["ft_original"], *RECIPES)}
FRONTEND = config["model"]["frontend"]
GPU = 1 if config["model"]["device"] == "cuda" else 0
# conda environments for --software-deployment-method conda (ignored otherwise)
CONDA_ENV = "../envs/gpu.yaml" if GPU else "../envs/cpu.yaml"


wildcard_constraints:
    seed=r"\d+",
    run="|".join(RUNS),
    prompt_set="|".join(PROMPT_SETS),
    frontend="logmel|ltu_fbank|hf",
    task="|".join(TASKS),
    condition="|".join(CONDITIONS),


def scored_on(task):
    """Names of the conditions scored on `task` (the controls are scored on semantic only), in table order."""
    return [c.name for c in with_task(list(CONDITIONS.values()), task)]


def condition_records(names=None):
    """The conditions (as dicts, for params) in table order."""
    return [CONDITIONS[n].as_dict() for n in (names or CONDITIONS)]


def dataset_config():
    """The config sections that shape the dataset (for its card): a change elsewhere, e.g. to
    evaluation, must not rebuild the items and so retrain every model."""
    return {k: config[k] for k in ("seed", "corpus", "clips", "features", "wordnet", "shard")}


def models(seed="{seed}"):
    """Where one replicate's models live (the base, if pretrained here, and one adapter per fine-tuning run)."""
    return f"{R}/models/seed{seed}"


def base_dir(wildcards=None):
    """The base model: a configured local checkpoint, or mini_ltu pretrained by the workflow for this seed."""
    return config["model"]["base"] or f"{models(wildcards.seed if wildcards else '{seed}')}/base"


def python():
    """The interpreter of shell jobs: the conda env's under conda deployment, else the one running snakemake."""
    return "python" if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method else sys.executable


def launcher(processes):
    """How a training job starts: one process, or torchrun with one process per GPU (DDP; gloo on CPU)."""
    if processes == 1:
        return python()
    return f"{python()} -m torch.distributed.run --standalone --nproc_per_node {processes}"


def all_targets():
    return [
        f"{R}/shard/card.md",
        f"{R}/prompts/leakage_audit.json",
        *([] if config["model"]["base"] else expand(f"{R}/eval/seed{{seed}}/base_model.json", seed=SEEDS)),
        *[f"{R}/tables/{t}.{ext}" for t in ("semantic", "labelling") for ext in ("csv", "md", "tex")],
        *[f"{R}/tables/{t}.{ext}" for t in ("scaling", "perception", "forgetting") for ext in ("csv", "md")],
        *[f"{R}/tables/artifacts.{ext}" for ext in ("csv", "md")],
        f"{R}/figures/tradeoff.png",
        f"{R}/shard/browser",  # audit the items by ear, with every condition's answers
        f"{R}/export/hf",  # SHARD in the Hugging Face datasets layout
    ]


def curated_map():
    from shard.corpora import curated_map_name

    return curated_map_name(config["corpus"], config["wordnet"])
