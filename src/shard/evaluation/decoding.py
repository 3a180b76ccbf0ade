"""How a model writes, and how its authors read what it writes: the generation side of the evaluation.

`Decoding`: a model's `model.generate` settings (greedy by default; LTU's release samples, configs/ltu.yaml), seeded
per batch so that sampled outputs are reproducible. `caption_instruction` and `embedded_caption`: the labelling
protocol of a backend whose authors label audio their own way (its record in shard.models.backends: ltu asks
LTU's "Close-ended question: ..." and embeds what follows a caption's last ':', src/ltu/eval/eval_esc.py).
"""
from __future__ import annotations

import numpy as np
import polars as pl

from shard.common import seed_for
from shard.prompts import templates

SAMPLING = ("temperature", "top_p", "top_k", "repetition_penalty")


class Decoding:
    """How one model writes: its cap on new tokens and the generate() options beyond greedy decoding
    (model.generate; none by default, so a greedy model is called exactly as before)."""

    def __init__(self, model_cfg: dict | None, evaluate_cfg: dict):
        settings = (model_cfg or {}).get("generate") or {}
        self.max_new_tokens = settings.get("max_new_tokens") or evaluate_cfg["max_new_tokens"]
        self.options = {k: settings[k] for k in SAMPLING if settings.get(k) is not None}
        if settings.get("do_sample"):
            self.options["do_sample"] = True
        self.seed = settings.get("seed", 0)

    def __call__(self, llm, batch: pl.DataFrame, features: list[list[np.ndarray]], fmt: str) -> list[str]:
        texts = batch["text"].to_list()
        if not self.options:
            return llm.generate(texts, features, fmt, self.max_new_tokens)
        # sampling: a seed per batch, from its prompts (the same draws whatever else the job evaluates)
        seed = seed_for(self.seed, "generate", *batch["prompt_id"])
        return llm.generate(texts, features, fmt, self.max_new_tokens, seed=seed, **self.options)


def caption_instruction(backend, fmt: str) -> str | None:
    """The labelling prompt's text for `backend` (a shard.models.backends record) in prompt format `fmt`; None
    when it labels with the prompts' own instruction."""
    if backend.caption_instruction is None:
        return None
    return templates.to_original(backend.caption_instruction) if fmt == "original" else backend.caption_instruction


def embedded_caption(caption: str, split: str | None) -> str:
    """What of a caption is embedded: all of it, or, for a backend whose authors keep only the answer after a
    separator (LTU's eval_esc.py: pred.split(':')[-1]), the caption's last piece."""
    return caption.split(split)[-1].strip() if split else caption
