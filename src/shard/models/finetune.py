"""LoRA fine-tuning (rule `finetune`): the base model + a PEFT adapter trained on one training-prompt file.
`finetune.recipe`: a fresh LoRA (`lora`), or the fine-tuning the model's authors ran (`authors`, the backend's
record names it: ltu's is LTU's stage 4, shard.models.ltu.ltu_stage4).

The rule runs this module as a program, `python -m shard.models.finetune ...`, or under torchrun for several
processes (`finetune.processes` > 1: DistributedDataParallel, one process per GPU, gloo on CPU); the
launcher is visible in the rule. Only rank 0 writes. A killed job resumes from its last checkpoint
(`{adapter_dir}.ckpt/`) to a bit-identical adapter.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Sequence

import polars as pl
import torch

from shard.common import ShardError, atomic_path, config_hash, seed_for, setup_logging, sha1_file, write_json
from shard.evaluation.conditions import ORDERS
from shard.dataset.features import FeatureStore
from shard.models.backends import authors_recipe, load_model
from shard.models.interface import resolve_device
from shard.models.provenance import base_checksums
from shard.models.train import Examples, process_group, rank_world, set_threads, train_loop, write_train_log

log = logging.getLogger(__name__)

TRAIN_CONFIG = "train_config.json"  # beside the adapter: the settings it was trained with (finetune.recipe too)


def lora_config(lora: dict, language_model: str = r".*language_model.*", projector: str = "projector"):
    """LoRA on the language model only: a regex, so the audio encoder's q_proj / v_proj are never wrapped.
    The backend names its language model (a module-name regex) and projector (`AudioLLM.language_model`,
    `AudioLLM.projector`); the defaults are mini_ltu's."""
    from peft import LoraConfig

    names = "|".join(re.escape(t) for t in lora["target_modules"])
    return LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"], bias="none",
                      target_modules=rf"{language_model}\.({names})$",
                      modules_to_save=[projector] if lora["train_projector"] else None)


def finetune(*, base_dir: str, prompts: str, clips_parquet: str, features: str, adapter_dir: str, finetune: dict,
             model: dict, seed: int, threads: int, order: str = "mixed") -> None:
    """Train one LoRA adapter on `prompts` (one format); write it to `adapter_dir` in PEFT's format.
    `order`: `mixed` (one shuffled stream) or `curriculum` (each epoch: the replayed labelling prompts
    first, then the rest)."""
    from peft import get_peft_model

    set_threads(threads)
    df = pl.read_parquet(prompts)
    if df.is_empty():
        raise ShardError(f"'{prompts}' holds no training prompts; rebuild it with a larger prompts.train_scales")
    fmts = sorted(set(df["format"]))
    if len(fmts) != 1:
        raise ShardError(f"'{prompts}' mixes prompt formats {fmts}; a training file holds one format")
    data = Examples(df["text"].to_list(), df["clip_ids"].to_list(), df["answer"].to_list(), fmts[0],
                    FeatureStore(features, clips_parquet).per_clip, names=df["prompt_id"].to_list())

    if finetune.get("recipe", "lora") == "authors":  # e.g. LTU's stage 4: its own LoRA continued, audio trained
        torch.manual_seed(seed_for(seed, "finetune", "lora_init"))  # the recipe's LoRA dropout draws
        llm, params = authors_recipe(model, base_dir, finetune)
    else:
        llm = load_model(model, base_dir)
        torch.manual_seed(seed_for(seed, "finetune", "lora_init"))
        llm.model = get_peft_model(llm.model, lora_config(finetune["lora"], llm.language_model, llm.projector))
        params = [p for p in llm.model.parameters() if p.requires_grad]
    llm.processor.train_on_prompt = finetune["train_on_prompt"]
    # a checkpoint is resumed only by a run on the same prompts, base model and settings
    if order not in ORDERS:
        raise ShardError(f"config key 'prompts.orders': unknown order '{order}'; use one of {ORDERS}")
    phases = (df["task"] != "labelling").cast(pl.Int8).to_numpy() if order == "curriculum" else None
    fingerprint = config_hash({"finetune": finetune, "seed": seed, "order": order, "n": len(data), "prompts": sha1_file(prompts),
                               "base": base_checksums(base_dir)})
    rows = train_loop(llm, data, params, epochs=finetune["epochs"], max_steps=finetune["max_steps"],
                      batch_size=finetune["batch_size"], grad_accum=finetune["grad_accum"], lr=finetune["lr"],
                      warmup_steps=finetune["warmup_steps"], grad_clip=finetune["grad_clip"], seed=seed,
                      stage="finetune", ckpt_dir=Path(str(adapter_dir).rstrip("/") + ".ckpt"),
                      checkpoint_every=finetune["checkpoint_every"], fingerprint=fingerprint, phases=phases)
    if rank_world()[0] != 0:
        return
    with atomic_path(adapter_dir) as tmp:
        llm.model.save_pretrained(tmp)
        write_train_log(rows, tmp / "train_log.csv")
        write_json({"finetune": finetune, "model": model, "seed": seed, "order": order, "n_prompts": len(data),
                    "steps": len(rows),
                    "prompts_sha1": sha1_file(prompts), "base": base_checksums(base_dir),
                    "trainable_parameters": sum(p.numel() for p in params)}, tmp / TRAIN_CONFIG)
    shutil.rmtree(str(adapter_dir).rstrip("/") + ".ckpt", ignore_errors=True)
    log.info("fine-tuned %d steps on %d prompts -> %s", len(rows), len(data), adapter_dir)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m shard.models.finetune --base-dir DIR --prompts FILE ... --settings JSON` (what the rule runs,
    directly or under torchrun). Rank 0 logs at INFO, the other ranks only warn."""
    parser = argparse.ArgumentParser(prog="python -m shard.models.finetune", description=main.__doc__)
    for name in ("base-dir", "prompts", "clips", "features", "adapter-dir", "settings"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--threads", type=int, required=True, help="torch threads per process")
    args = parser.parse_args(argv)
    settings = json.loads(args.settings)  # {finetune, model, seed, order}: what this job reads of the config
    setup_logging(level=logging.INFO if int(os.environ.get("RANK", 0)) == 0 else logging.WARNING)
    world = int(os.environ.get("WORLD_SIZE", 1))
    with process_group(resolve_device(settings["model"]["device"])):
        try:
            finetune(base_dir=args.base_dir, prompts=args.prompts, clips_parquet=args.clips, features=args.features,
                     adapter_dir=args.adapter_dir, finetune=settings["finetune"], model=settings["model"],
                     seed=settings["seed"], threads=max(1, args.threads // world), order=settings["order"])
        except ShardError as err:
            log.error("%s", err)
            raise SystemExit(f"shard: {err}") from None


if __name__ == "__main__":
    main()
