"""One interface to every audio LLM backend: training loss, option scoring, generation (greedy or sampled).

Every stage (pretraining, fine-tuning, evaluation) talks to an `AudioLLM`; a backend only has to
provide a processor (texts + clip features -> a dict of the model's own keyword arguments: input_ids,
attention_mask, labels with answers, its audio inputs, position_ids where the model takes 1-D ones)
and a model whose forward takes that dict plus `cache, use_cache` and returns transformers'
CausalLMOutputWithPast. The backend also says which modules LoRA may wrap (`language_model`, a
module-name regex; `projector`) and whether a prompt's cache can be extended per option (`shared_cache`).

Backends import this module, never the reverse: each loader (registered in shard.models.backends, which
`load_model` dispatches through) builds its model, adds its adapter with `with_adapter` and returns an AudioLLM.
"""
from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from shard.common import ShardError
from shard.models.processor import AudioProcessor, position_ids_from_mask

log = logging.getLogger("shard")


def resolve_device(name: str | None = "auto") -> torch.device:
    """The one place a device is chosen: 'auto' -> cuda when available, else cpu; under torchrun on GPUs each
    process's own cuda:LOCAL_RANK."""
    if name in (None, "auto"):
        name = "cuda" if torch.cuda.is_available() else "cpu"
    elif name == "cuda" and not torch.cuda.is_available():
        raise ShardError("config key 'model.device' is 'cuda' but no GPU is visible; set it to auto or cpu")
    if name == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return torch.device(name)


def with_adapter(model: torch.nn.Module, adapter_dir: str | None) -> torch.nn.Module:
    """`model` with the PEFT (LoRA) adapter the finetune rule wrote to `adapter_dir`; `model` itself when None.
    Every backend's loader adds its adapter here."""
    if adapter_dir is None:
        return model
    if not (Path(adapter_dir) / "adapter_config.json").is_file():
        raise ShardError(f"adapter directory '{adapter_dir}' has no adapter_config.json; rerun its fine-tuning rule")
    from peft import PeftModel

    return PeftModel.from_pretrained(model, adapter_dir)


class AudioLLM:
    """A model + its processor on one device. Batched; every method takes per-prompt lists."""

    def __init__(self, model: torch.nn.Module, processor: AudioProcessor, device: torch.device, backend: str, *,
                 language_model: str = r".*language_model.*", projector: str = "projector", shared_cache: bool = True):
        self.model, self.processor, self.device, self.backend = model.to(device), processor, device, backend
        # LoRA scope: the language model's modules by name (audio encoders have q_proj / v_proj too)
        self.language_model, self.projector = language_model, projector
        self.shared_cache = shared_cache  # False: option scoring runs one pass per option instead

    # ------------------------------------------------------------------ helpers
    def autocast(self):
        """bf16 autocast on GPU (training); fp32 on CPU."""
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def to_device(self, batch: dict) -> dict:
        return {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    def encode(self, texts, features, fmt, answers=None, **kw) -> dict:
        return self.to_device(self.processor(texts, features, fmt, answers, **kw))

    # ------------------------------------------------------------------ training
    def loss(self, batch: dict, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Mean token cross-entropy over the batch's labels (a processor batch made with answers). `weights` (one
        per prompt) weighs each prompt's tokens: a prompt of weight 2 counts as if it were in the batch twice."""
        with self.autocast():
            if weights is None:
                return self.model(**self.to_device(batch)).loss
            batch = self.to_device(batch)
            labels = batch.pop("labels")[:, 1:]  # the causal shift the model's own loss makes
            logits = self.model(**batch).logits[:, :-1].float()
        token_loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, reduction="none",
                                                       ignore_index=-100)
        token_weight = (labels != -100) * weights.to(self.device, torch.float32)[:, None]
        return (token_loss * token_weight).sum() / token_weight.sum()

    # ------------------------------------------------------------------ scoring
    @torch.no_grad()
    def option_logprobs(self, texts: Sequence[str], features: Sequence[Sequence[np.ndarray]], fmt: str,
                        options: Sequence[Sequence[str]], share_cache: bool = True) -> list[list[tuple[float, int]]]:
        """Per prompt, per option: (sum of log p(option tokens | prompt), number of option tokens).

        share_cache=True encodes each prompt (with its audio) once and extends its key/value cache
        by every option; share_cache=False runs one full forward per (prompt, option): the baseline.
        """
        if len(options) != len(texts):
            raise ValueError("option_logprobs: one options list per prompt")
        option_ids = [[self.processor.encode_answer(o) for o in opts] for opts in options]
        for opts, ids in zip(options, option_ids):
            for o, t in zip(opts, ids):
                if not t:
                    raise ValueError(f"option {o!r} has no tokens")
        self.model.eval()
        if share_cache and not self.shared_cache:
            if not getattr(self, "_said_no_shared_cache", False):
                log.warning("%s (%s): the prompt's cache cannot be extended per option for this model; scoring "
                            "each option in its own full pass (same log-probabilities, slower)",
                            self.backend, type(self.model).__name__)
                self._said_no_shared_cache = True
            share_cache = False
        scores = self._scores_shared(texts, features, fmt, option_ids) if share_cache \
            else self._scores_full(texts, features, fmt, options, option_ids)
        out, k = [], 0
        for ids in option_ids:
            out.append([(float(scores[k + j]), len(t)) for j, t in enumerate(ids)])
            k += len(ids)
        return out

    def _scores_full(self, texts, features, fmt, options, option_ids) -> torch.Tensor:
        rep = [i for i, opts in enumerate(options) for _ in opts]
        batch = self.encode([texts[i] for i in rep], [features[i] for i in rep], fmt,
                            [o for opts in options for o in opts], add_eos=False)
        batch.pop("labels")
        logp = self.model(**batch).logits[:, :-1].float().log_softmax(-1)
        # only option positions are scored; ltu's <audio> id is past its logits, so gather id 0 there instead
        ids = batch["input_ids"]
        targets = ids.masked_fill(ids >= logp.shape[-1], 0)[:, 1:, None]
        token_logp = logp.gather(-1, targets).squeeze(-1)
        # left padding: each row's option is its last n tokens
        n = torch.tensor([len(t) for ids in option_ids for t in ids], device=self.device)
        width = token_logp.shape[1]
        is_option = torch.arange(width, device=self.device)[None, :] >= width - n[:, None]
        return (token_logp * is_option).sum(-1).cpu()

    def _scores_shared(self, texts, features, fmt, option_ids) -> torch.Tensor:
        batch = self.encode(texts, features, fmt)
        out = self.model(**batch, use_cache=True)
        first_logp = out.logits[:, -1].float().log_softmax(-1)  # predicts each option's first token
        rep = torch.tensor([i for i, ids in enumerate(option_ids) for _ in ids], device=self.device)
        flat = [t for ids in option_ids for t in ids]
        first = torch.tensor([t[0] for t in flat], device=self.device)
        scores = first_logp[rep, first]
        width = max(len(t) for t in flat)
        if width == 1:
            return scores.cpu()
        # the rest of each option: feed tokens 0..n-2 on top of the prompt's cache, copied per option
        ids = torch.full((len(flat), width), self.processor.pad_id, dtype=torch.long)
        for r, t in enumerate(flat):
            ids[r, :len(t)] = torch.tensor(t)
        ids = ids.to(self.device)
        n = torch.tensor([len(t) for t in flat], device=self.device)
        cont_mask = (torch.arange(width - 1, device=self.device)[None, :] < (n[:, None] - 1)).long()
        cache = out.cache
        cache.reorder_cache(rep)
        prompt_mask = batch["attention_mask"][rep]
        cont = self.model(input_ids=ids[:, :-1], attention_mask=torch.cat([prompt_mask, cont_mask], 1),
                          position_ids=position_ids_from_mask(cont_mask, offset=prompt_mask.sum(-1)),
                          cache=cache, use_cache=True)
        token_logp = cont.logits.float().log_softmax(-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
        return (scores + (token_logp * cont_mask).sum(-1)).cpu()

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def generate(self, texts: Sequence[str], features: Sequence[Sequence[np.ndarray]], fmt: str,
                 max_new_tokens: int = 16, seed: int = 0, **options) -> list[str]:
        """Decoding through transformers' generate(), batched (left padding), stopping at EOS: greedy, or what
        `options` (generate() keywords: do_sample, temperature, top_p, top_k, repetition_penalty) set. Sampling
        draws from torch's generator seeded with `seed` (on a forked RNG state, so nothing else moves).
        The audio token is never generated: it is a placeholder, not a word."""
        self.model.eval()
        batch = self.encode(texts, features, fmt)
        batch.pop("position_ids", None)  # generate() derives them from the attention mask at every step
        kwargs = {"do_sample": False, **options}
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else [],
                                   enabled=bool(kwargs["do_sample"])):
            if kwargs["do_sample"]:
                torch.manual_seed(seed)
            out = self.model.generate(**batch, max_new_tokens=max_new_tokens, suppress_tokens=[self.processor.audio_token_id],
                                      pad_token_id=self.processor.pad_id, eos_token_id=self.processor.eos_id, **kwargs)
        new = out[:, batch["input_ids"].shape[1]:].tolist()
        return [self.processor.tokenizer.decode(row, skip_special_tokens=True).strip() for row in new]
