"""The model backends, one record each: how a model is loaded, what it reads, and what its config must hold.

A new backend is its own module (a loader returning an `AudioLLM`, see shard.models.interface) plus one `Backend`
line in BACKENDS: the config schema takes its name in model.backend, validate_config checks model.base,
model.frontend and model.checkpoint by its record, and `load_model` dispatches to its loader. Light on purpose
(no torch here): the Snakefile reads it when it validates the config.
"""
from __future__ import annotations

import pkgutil
from dataclasses import dataclass

from shard.common import ShardError
from shard.dataset.frontends import shared_frontends


@dataclass(frozen=True)
class Backend:
    """One backend. Its provenance (shard.models.provenance.model_identity): backend, front end, base, adapter,
    the checkpoint where it reads one, and the sha1 of each of their weight files."""
    name: str
    # "module:function", (model_cfg, base_dir, adapter_dir, device) -> AudioLLM; imported when a model is loaded
    loader: str
    base: str  # what model.base must hold, as the config error tells the user
    base_required: bool = True  # False: a null model.base is pretrained by the workflow (rule pretrain_base)
    frontends: tuple[str, ...] | None = None  # the front ends it reads; None: any shared one (it sizes itself to them)
    checkpoint: str | None = None  # what model.checkpoint must hold, where it is required; None: it reads none
    # how its authors label audio (the labelling evaluation): the caption instruction, written with its <audio>
    # (None: the prompts' own, shard.prompts.templates.CAPTION), and the separator whose last piece of a caption
    # is what gets embedded (None: the whole caption)
    caption_instruction: str | None = None
    caption_split: str | None = None
    # finetune.recipe `authors`: "module:function", (model_cfg, base_dir, device, finetune_cfg) -> (AudioLLM,
    # trainable parameters), the model made ready for its authors' fine-tuning; None: the backend has none
    authors_recipe: str | None = None

    def reads(self) -> tuple[str, ...]:
        """The front ends whose features this backend reads (model.frontend must be one)."""
        return self.frontends if self.frontends is not None else shared_frontends()


BACKENDS: dict[str, Backend] = {b.name: b for b in (
    Backend("mini_ltu", "shard.models.mini_ltu:load_mini_ltu", base_required=False,
            base="a directory saved by the pretrain_base rule (or null to pretrain mini_ltu here)"),
    Backend("ltu", "shard.models.ltu:load_ltu", frontends=("ltu_fbank",),
            base="LTU's language model in Hugging Face format (a LLaMA-7B / Vicuna-7B directory with config.json and "
                 "the tokenizer)",
            checkpoint="LTU's released weights (e.g. ltu_ori_paper.bin from github.com/YuanGongND/ltu, or a "
                       ".safetensors copy)",
            # src/ltu/inference_batch.py (ESC-50 and the other classification sets); src/ltu/eval/eval_esc.py
            caption_instruction="Close-ended question: Write an audio caption describing <audio>.",
            caption_split=":", authors_recipe="shard.models.ltu:ltu_stage4"),
    Backend("hf", "shard.models.hf:load_hf", frontends=("hf",),
            base="the audio LLM's local directory (config.json, weights, processor and chat template, as "
                 "save_pretrained writes them)"),
)}


def backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise ShardError(f"config key 'model.backend': unknown backend {name!r}; choose one of {tuple(BACKENDS)}")
    return BACKENDS[name]


def load_model(model_cfg: dict, base_dir: str, adapter_dir: str | None = None, device: str | None = None):
    """The configured backend's `AudioLLM` from local files (never downloads), with the PEFT adapter in
    `adapter_dir` if given. `device` defaults to model_cfg['device'] (shard.models.interface.resolve_device)."""
    from shard.models.interface import resolve_device

    loader = pkgutil.resolve_name(backend(model_cfg["backend"]).loader)
    return loader(model_cfg, base_dir, adapter_dir, resolve_device(device or model_cfg["device"]))


def authors_recipe(model_cfg: dict, base_dir: str, finetune_cfg: dict, device: str | None = None):
    """finetune.recipe authors: (AudioLLM, trainable parameters) from the backend's `authors_recipe`."""
    from shard.models.interface import resolve_device

    record = backend(model_cfg["backend"])
    if record.authors_recipe is None:
        raise ShardError(f"config key 'finetune.recipe': backend {record.name} has no fine-tuning recipe of its "
                         "authors' (ltu has: LTU's stage 4); set finetune.recipe: lora")
    recipe = pkgutil.resolve_name(record.authors_recipe)
    return recipe(model_cfg, base_dir, resolve_device(device or model_cfg["device"]), finetune_cfg)
