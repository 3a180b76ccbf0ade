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

from shard.kernels import pin_cpu_kernels

pin_cpu_kernels()  # every job (local or cluster) gets shard.kernels' pinned kernels: the same bytes on any x86 CPU

from shard.common import ShardError
from shard.evaluation.conditions import TASKS, display_name, study_conditions, training_runs, with_task
from shard.config import external_models, outcome_config, scale_name, study_models, validate_config
from shard.dataset.frontends import feature_sets, model_feature_set

try:
    validate_config(config)  # fills the schema's defaults; a bad config stops here, before any job
except ShardError as err:
    raise WorkflowError(f"invalid configuration: {err}")

RESULTS = config["results"]  # every target lives under this folder
# model replicates: each seed pretrains (mini_ltu), fine-tunes and evaluates its own models on the same items
SEEDS = config["seeds"]
SCALES = {scale_name(n): n for n in config["prompts"]["train_scales"]}
RECIPES = (config["prompts"]["replay_fractions"], config["prompts"]["orders"])
# fine-tuning runs (scale x replay fraction x order) and the training-prompt files they read (scale x replay)
RUNS = {r.name: r for r in training_runs(SCALES, *RECIPES)}
PROMPT_SETS = {r.prompt_set: r for r in RUNS.values()}
CONDITIONS = {c.name: c for c in study_conditions(SCALES, config["evaluate"]["ft_original"], *RECIPES)}
# the models compared on the same items (config `models`; one by default): name -> model, pretrain, finetune
MODELS = study_models(config)
# models scored outside the workflow (config `external_models`): name -> the folder the harness import wrote
EXTERNAL_MODELS = external_models(config)
for _folder in EXTERNAL_MODELS.values():
    if not list(Path(_folder).glob("*/semantic.jsonl")):
        raise WorkflowError(f"config external_models: {_folder} holds no {{condition}}/semantic.jsonl; write it with "
                            "python -m shard.harness import LOGS --out FOLDER")
# the features files the models may read: name -> (front end record, the model whose own extractor it is, or None)
FEATURE_SETS = feature_sets(MODELS)
# conda environments for --software-deployment-method conda (ignored otherwise)
CONDA_ENV = "../envs/gpu.yaml" if any(m["model"]["device"] == "cuda" for m in MODELS.values()) else "../envs/cpu.yaml"


wildcard_constraints:
    seed=r"\d+",
    shard=r"\d+",
    model="|".join(MODELS),
    run="|".join(RUNS),
    prompt_set="|".join(PROMPT_SETS),
    feature_set="|".join(FEATURE_SETS),
    task="|".join(TASKS),
    condition="|".join(CONDITIONS),


def condition_records(names=None):
    """The study's conditions (`names`, default all) as records, what rules pass as params, in table order."""
    return [CONDITIONS[n].as_dict() for n in (names or CONDITIONS)]


def scored_on(task):
    """Names of the conditions scored on `task` (the controls are scored on semantic only), in table order."""
    return [c["name"] for c in with_task(condition_records(), task)]


def dataset_config():
    """The config sections that shape the dataset (for its card): a change elsewhere, e.g. to
    evaluation, must not rebuild the items and so retrain every model."""
    shaping = ("seed", "corpus", "clips", "features", "wordnet", "shard")
    return {k: v for k, v in outcome_config(config).items() if k in shaping}


def shard_files(pattern):
    """One path per clip shard (config clips.shards: jobs that each decode a contiguous range of the sorted source
    files); `pattern` names the shard `{shard}`. Only gather rules take these lists."""
    return [pattern.format(shard=k) for k in range(config["clips"]["shards"])]


def models(model="{model}", seed="{seed}"):
    """Where one model's replicate lives (its base, if pretrained here, and one adapter per fine-tuning run)."""
    return f"{RESULTS}/models/{model}/seed{seed}"


def evaluations(model="{model}", seed="{seed}"):
    """Where one model's replicate is evaluated: base_model.json and {condition}/{task}.jsonl|.summary.json."""
    return f"{RESULTS}/eval/{model}/seed{seed}"


def base_dir(w):
    """The base model: a configured local checkpoint, or mini_ltu pretrained by the workflow for this seed."""
    return MODELS[w.model]["model"]["base"] or f"{models(w.model, w.seed)}/base"


def feature_set(model):
    """The features a model reads, computed once per clip and shared by the models on the same front end; a
    per-model front end (hf: the model's own feature extractor) gives each model its own."""
    return model_feature_set(model, MODELS[model])


def feature_frontend(feature_set):
    return FEATURE_SETS[feature_set][0].name


def feature_params(feature_set):
    """What the features rule passes to the front end: config features.<name>, and for a per-model front end
    the model's folder (shard.dataset.frontends.FrontEnd.params)."""
    frontend, model = FEATURE_SETS[feature_set]
    return frontend.params(config["features"], MODELS[model]["model"] if model else None)


def features(w, kind="json"):
    """A model's feature set: its meta json, what FeatureStore opens (`kind` silence.npy: the silent clip the
    blind controls hear)."""
    return f"{RESULTS}/features/{feature_set(w.model)}.{kind}"


def gpus(w):
    return 1 if MODELS[w.model]["model"]["device"] == "cuda" else 0


def python():
    """The interpreter of shell jobs: the conda env's under conda deployment, else the one running snakemake."""
    return "python" if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method else sys.executable


def launcher(processes):
    """How a training job starts: one process, or torchrun with one process per GPU (DDP; gloo on CPU)."""
    if processes == 1:
        return python()
    return f"{python()} -m torch.distributed.run --standalone --nproc_per_node {processes}"


def all_targets():
    from shard.reporting.registry import TABLES

    return [
        f"{RESULTS}/shard/card.md",
        f"{RESULTS}/prompts/leakage_audit.json",
        *[f"{evaluations(m, s)}/base_model.json" for m in MODELS if not MODELS[m]["model"]["base"] for s in SEEDS],
        *[path for table in TABLES.values() for fmt, path in table.outputs(RESULTS).items() if fmt in table.formats],
        *[f"{RESULTS}/tables/artifacts.{ext}" for ext in ("csv", "md")],
        f"{RESULTS}/shard/browser",  # audit the items by ear, with every condition's answers
        f"{RESULTS}/export/hf",  # SHARD in the Hugging Face datasets layout
        f"{RESULTS}/export/lmms_eval/shard",  # ... as an lmms-eval task group
        f"{RESULTS}/export/lm_eval/shard_text_oracle",  # ... and lm-eval's text oracle
    ]


def curated_map():
    from shard.dataset.corpora import curated_map_name

    return curated_map_name(config["corpus"], config["wordnet"])
