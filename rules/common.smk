# Helpers shared by every rule file: config validation, paths, the list of conditions and targets.
import json
import os
import sys
from pathlib import Path

# the package lives in src/: importable here, and in every job (local, conda or cluster) via PYTHONPATH
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)

from shard.config import validate_config, scale_name
from shard.common import ShardError

try:
    validate_config(config)
except ShardError as err:
    raise WorkflowError(f"invalid configuration: {err}")

R = config.get("results", "results")
SCALES = {scale_name(n): n for n in config["prompts"]["train_scales"]}
FRONTEND = config["model"]["frontend"]
# conda environments for --software-deployment-method conda (ignored otherwise)
CONDA_ENV = "../envs/gpu.yaml" if config["model"]["device"] == "cuda" else "../envs/cpu.yaml"


wildcard_constraints:
    scale="|".join(SCALES),
    frontend="logmel|ltu_fbank",
    task="shard|labeling",


def conditions():
    """Rows of every table: base model in both formats, the blind control, each fine-tuned scale."""
    conds = ["original", "zeroshot_interleaved", "blind"]
    conds += [f"ft_{s}" for s in SCALES]
    if config["evaluate"]["ft_original"]:
        conds += [f"ft_{s}_original" for s in SCALES]
    return conds


def dataset_config():
    """The config sections that shape the dataset (for its card): a change elsewhere, e.g. to
    evaluation, must not rebuild the items and so retrain every model."""
    return {k: config[k] for k in ("seed", "corpus", "clips", "features", "wordnet", "shard")}


def base_dir():
    """The base model: a configured local checkpoint, or mini_ltu pretrained by the workflow."""
    return config["model"]["base"] or f"{R}/models/base"


def condition_format(condition):
    return "original" if condition == "original" or condition.endswith("_original") else "interleaved"


def condition_adapter(condition):
    if not condition.startswith("ft_"):
        return None
    return f"{R}/models/{condition.removesuffix('_original')}"


def all_targets():
    return [
        f"{R}/shard/card.md",
        *[f"{R}/features/{f}.npy" for f in config["features"]["frontends"]],
        f"{R}/prompts/leakage_audit.json",
        *[f"{R}/tables/{t}.{ext}" for t in ("semantic", "labeling") for ext in ("csv", "md", "tex")],
        *[f"{R}/tables/scaling.{ext}" for ext in ("csv", "md")],
        f"{R}/figures/tradeoff.png",
    ]


def corpus_synset_hints():
    from shard.corpora import synset_hints

    return synset_hints(config["corpus"])
