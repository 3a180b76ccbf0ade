"""Tokens/s of shard.models.train.train_loop vs a plain PyTorch loop: same LoRA-wrapped mini_ltu, batches, data.

    HF_HUB_OFFLINE=1 python bench/train_throughput.py [--steps 30] [--batch 32]

Both loops collate with the same processor each step, run AdamW + warmup/cosine + grad clipping; ours
adds the seeded per-epoch order, logging, the progress bar and (disabled here) checkpoints. Prints
both throughputs, their ratio (target >= 0.9x) and the peak resident memory of the process.
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch
from peft import get_peft_model
from transformers import get_cosine_schedule_with_warmup

from shard.prompts import templates
from shard.models import AudioLLM, AudioProcessor
from shard.models.mini_ltu import random_mini_ltu
from shard.models.finetune import lora_config
from shard.models.train import Examples, train_loop

PRETRAIN = {"hidden_size": 128, "layers": 4, "heads": 4, "audio_tokens": 8}
LORA = {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": ["q_proj", "v_proj"], "train_projector": False}
WORDS = ["dog", "canine", "bell", "siren", "alarm", "device", "animal", "instrument", "signal", "engine"]


def make_data(n: int) -> tuple[Examples, list[str]]:
    g = np.random.default_rng(0)
    clips = {f"c{i}": g.normal(-40, 15, (64, 101)).astype(np.float16) for i in range(64)}
    texts, clip_ids, answers = [], [], []
    for i in range(n):
        template = templates.semantic_templates("hypernym", "source", "yesno")[i % 3]
        texts.append(templates.render_one(template.text, word=WORDS[i % len(WORDS)]))
        clip_ids.append([f"c{i % 64}"]); answers.append(templates.YES if i % 2 else templates.NO)
    return Examples(texts, clip_ids, answers, "interleaved", lambda ids: [clips[c] for c in ids]), texts


def plain_loop(llm: AudioLLM, data: Examples, steps: int, batch: int) -> int:
    params = [p for p in llm.model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.0)
    sched = get_cosine_schedule_with_warmup(opt, 2, steps)
    llm.model.train()
    tokens = 0
    for step in range(steps):
        idx = [(step * batch + j) % len(data) for j in range(batch)]
        b = data.batch(llm.processor, idx)
        loss = llm.model(**b).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step(); sched.step(); opt.zero_grad(set_to_none=True)
        tokens += int(b["attention_mask"].sum())
    return tokens


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    data, texts = make_data(args.steps * args.batch)
    model, tok = random_mini_ltu([templates.LTU_PROMPT, *texts], {**PRETRAIN, "vocab_size": 500},
                                 required=WORDS + [templates.YES, templates.NO])
    llm = AudioLLM(get_peft_model(model, lora_config(LORA)), AudioProcessor(tok, PRETRAIN["audio_tokens"]),
                   torch.device("cpu"), "mini_ltu")
    params = [p for p in llm.model.parameters() if p.requires_grad]
    plain_loop(llm, data, 3, args.batch)  # warm-up (allocator, kernels)

    results = {}
    for name in ("plain", "shard", "plain", "shard"):  # interleaved twice: drift hits both alike
        t0 = time.perf_counter()
        if name == "plain":
            tokens = plain_loop(llm, data, args.steps, args.batch)
        else:
            rows = train_loop(llm, data, params, epochs=1, max_steps=args.steps, batch_size=args.batch, grad_accum=1,
                              lr=1e-3, warmup_steps=2, grad_clip=1.0, seed=0, stage="bench")
            tokens = sum(r["tokens"] for r in rows)
        seconds = time.perf_counter() - t0
        results.setdefault(name, []).append(tokens / seconds)
    plain, ours = max(results["plain"]), max(results["shard"])
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"plain PyTorch loop : {plain:9.0f} tokens/s")
    print(f"shard.train_loop   : {ours:9.0f} tokens/s")
    print(f"ratio              : {ours / plain:.2f}x (target >= 0.9x)")
    print(f"peak RSS           : {peak_mib:.0f} MiB  (batch {args.batch}, {args.steps} steps, LoRA r=8 on mini_ltu, "
          f"{torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
