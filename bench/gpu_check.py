"""LTU at full size on one GPU, random weights: LoRA training throughput / MFU / memory, and SHARD option scoring
with the shared prompt cache vs one forward per option. Nothing is read from disk or downloaded.

    HF_HUB_OFFLINE=1 python bench/gpu_check.py [--minutes 5] [--batch 16] [--gradient-checkpointing]
    HF_HUB_OFFLINE=1 python bench/gpu_check.py --tiny          # the same code at toy size on CPU (a smoke test)

Model: LLaMA-7B (hidden 4096, 32 layers, 32 heads, intermediate 11008, vocab 32000) + LTU's CAV-MAE audio branch
(768 wide, 11 + 1 blocks, 512 patches of a 128 x 1024 fbank -> 32 tokens) + projector, bf16, built directly on
the GPU. Training: LTU's LoRA (r=8, alpha=16, q/v of the language model only: shard.models.finetune.lora_config),
batch 16 x (32 audio + 108 text tokens: LTU's cutoff_len, src/ltu/train_script/stage4_all_mix.sh), AdamW.

MFU = model FLOPs per second / peak bf16 dense FLOPs (H100 SXM and H200: 989e12), model FLOPs per step =
    6 * N_lm * tokens                (2N forward + 4N backward per token; the usual convention, although frozen
                                      weights get no weight gradient: the hardware does ~4N, printed alongside)
  + 2 * N_audio * patches            (the frozen audio encoder: forward only)
with N_lm the language model's matmul parameters (embedding table excluded, lm_head included) and tokens the
batch's positions (audio included). Attention score FLOPs (sequence 140) are left out: < 2% here.
Targets: MFU >= 35 %; shared-cache scoring >= 2x one pass per option.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from peft import get_peft_model
from transformers import LlamaConfig

from shard.prompts import templates
from shard.models.finetune import lora_config
from shard.models import AudioLLM, AudioProcessor, build_tokenizer, resolve_device
from shard.models.ltu import LTUConfig, LTUForConditionalGeneration

LLAMA_7B = {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
            "num_key_value_heads": 32, "vocab_size": 32000}
TINY_TEXT = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 4}
TINY_AUDIO = {"n_mels": 32, "n_frames": 128, "audio_hidden": 48, "audio_heads": 4, "audio_layers": 2}
LORA = {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": ["q_proj", "v_proj"], "train_projector": False}
PEAK_BF16 = {"H100": 989e12, "H200": 989e12}  # dense, SXM
CUTOFF_LEN = 108  # LTU's text tokens per training example
WORDS = ["dog", "canine", "bell", "siren", "alarm", "device", "animal", "instrument", "signal", "engine", "vehicle",
         "bird", "music", "speech", "water", "tool"]


def build(tiny: bool, device: torch.device) -> tuple[AudioLLM, LTUConfig]:
    """Random LTU, created on `device` in bf16 on GPU (no CPU copy, no init pass over 7B weights on CPU)."""
    tok = build_tokenizer(templates.tokenizer_texts() + [templates.LTU_PROMPT], 400,
                          required=WORDS + [templates.YES, templates.NO])
    sizes = {**TINY_TEXT, "vocab_size": len(tok)} if tiny else LLAMA_7B
    text = LlamaConfig(**sizes, max_position_embeddings=2048, tie_word_embeddings=False,
                       pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    config = LTUConfig(text_config=text, audio_token_id=tok.convert_tokens_to_ids(templates.AUDIO),
                       attn_implementation="sdpa",
                       **(TINY_AUDIO if tiny else {}))
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with device:
            torch.manual_seed(0)
            model = LTUForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(default)
    return AudioLLM(model.eval(), AudioProcessor(tok, config.audio_tokens), device, "ltu"), config


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_batch(config: LTUConfig, bos_id: int, batch: int, device: torch.device) -> dict:
    """LTU's training shape: 32 audio positions, BOS, 107 text tokens, loss on all text (train_on_inputs)."""
    g = torch.Generator().manual_seed(0)
    n_audio, text = config.audio_tokens, CUTOFF_LEN - 1
    ids = torch.randint(10, config.text_config.vocab_size, (batch, n_audio + 1 + text), generator=g)
    ids[:, :n_audio] = config.audio_token_id
    ids[:, n_audio] = bos_id
    labels = ids.masked_fill(ids == config.audio_token_id, -100)
    mask = torch.ones_like(ids)
    feats = torch.randn(batch, config.n_mels, config.n_frames, generator=g)
    return {k: v.to(device) for k, v in {"input_ids": ids, "attention_mask": mask,
                                         "position_ids": mask.cumsum(-1) - 1, "labels": labels,
                                         "audio_features": feats}.items()}


def bench_training(llm: AudioLLM, config: LTUConfig, batch: int, seconds: float, grad_ckpt: bool) -> dict:
    llm.model = get_peft_model(llm.model, lora_config(LORA))
    if grad_ckpt:
        llm.model.base_model.model.language_model.activation_checkpointing_enable({"use_reentrant": False})
    params = [p for p in llm.model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    b = train_batch(config, llm.processor.bos_id, batch, llm.device)
    llm.model.train()

    def step():
        llm.loss(b).backward()
        opt.step(); opt.zero_grad(set_to_none=True)

    for _ in range(2):  # warm-up: allocator, kernels
        step()
    sync(llm.device)
    if llm.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    steps, t0 = 0, time.perf_counter()
    while steps < 3 or (time.perf_counter() - t0 < seconds and steps < 50):
        step(); steps += 1
    sync(llm.device)
    elapsed = time.perf_counter() - t0
    lm = llm.model.base_model.model.language_model
    n_lm = sum(p.numel() for n, p in lm.named_parameters() if "lora_" not in n and "embed_tokens" not in n)
    n_audio = sum(p.numel() for p in llm.model.base_model.model.audio_encoder.parameters())
    patches = (config.n_mels // config.patch_size) * (config.n_frames // config.patch_size) * batch
    tokens = b["input_ids"].numel()
    flops_6n = 6 * n_lm * tokens + 2 * n_audio * patches
    flops_4n = 4 * n_lm * tokens + 2 * n_audio * patches
    out = {"steps": steps, "step_s": elapsed / steps, "tokens_s": tokens * steps / elapsed,
           "flops_s_6n": flops_6n * steps / elapsed, "flops_s_4n": flops_4n * steps / elapsed,
           "trainable": sum(p.numel() for p in params), "tokens": tokens,
           "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if llm.device.type == "cuda" else None}
    llm.model = llm.model.base_model.model  # the LoRA layers stay in: scoring as the evaluation of an adapter runs
    llm.model.eval()
    return out


def scoring_items(n: int, config: LTUConfig) -> tuple[list[str], list[list[np.ndarray]], list[list[str]]]:
    """SHARD's semantic questions in the original format (one clip each): yes/no (2 options) and mc4 (4)."""
    g = np.random.default_rng(0)
    questions = [t for t in templates.all_templates() if t.task == "semantic" and t.text.count(templates.AUDIO) == 1]
    texts, feats, options = [], [], []
    for i in range(n):
        t = questions[(i * 7) % len(questions)]  # a stride that mixes the question formats
        words = [str(w) for w in g.choice(WORDS, size=4, replace=False)]
        mc = t.question_format != "yesno"
        texts.append(templates.to_original(templates.render_one(t.text, words if mc else None, word=words[0])))
        feats.append([g.normal(size=(config.n_mels, config.n_frames)).astype(np.float16)])
        options.append(words if mc else [templates.YES, templates.NO])
    return texts, feats, options


def bench_scoring(llm: AudioLLM, config: LTUConfig, n: int, seconds: float) -> dict:
    texts, feats, options = scoring_items(n, config)
    out = {"prompt_tokens": float(np.mean([len(llm.processor.encode_prompt(t, 1, "original")) for t in texts])),
           "options": sum(map(len, options))}
    for share in (True, False):
        with llm.autocast():
            llm.option_logprobs(texts, feats, "original", options, share_cache=share)  # warm-up
            sync(llm.device)
            reps, t0 = 0, time.perf_counter()
            while reps < 2 or (time.perf_counter() - t0 < seconds / 2 and reps < 30):
                llm.option_logprobs(texts, feats, "original", options, share_cache=share); reps += 1
            sync(llm.device)
        out["shared" if share else "per_option"] = n * reps / (time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiny", action="store_true", help="toy sizes on CPU: checks the script, measures nothing")
    ap.add_argument("--minutes", type=float, default=5.0, help="time budget for the measurements (build excluded)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--items", type=int, default=32, help="scoring prompts per call")
    ap.add_argument("--gradient-checkpointing", action="store_true")
    args = ap.parse_args()
    device = resolve_device("cpu" if args.tiny else "auto")
    if device.type == "cpu" and not args.tiny:
        raise SystemExit("no GPU visible: run with --tiny for the CPU smoke test")
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    peak = next((v for k, v in PEAK_BF16.items() if k in name), None)

    t0 = time.perf_counter()
    llm, config = build(args.tiny, device)
    sync(device)
    built = time.perf_counter() - t0
    budget = args.minutes * 60
    train = bench_training(llm, config, args.batch, 0.5 * budget, args.gradient_checkpointing)
    score = bench_scoring(llm, config, args.items, 0.4 * budget)

    mfu = train["flops_s_6n"] / peak if peak else None
    speedup = score["shared"] / score["per_option"]
    print(f"\ndevice {name}; {'tiny' if args.tiny else 'LLaMA-7B'} LTU built in {built:.1f} s; "
          f"batch {args.batch} x {train['tokens'] // args.batch} positions; {train['trainable']:,} trainable (LoRA)"
          f"{'; gradient checkpointing' if args.gradient_checkpointing else ''}")
    print(f"scoring: {args.items} original-format prompts, {score['options']} options, "
          f"{score['prompt_tokens']:.0f} prompt positions on average (word-level tokenizer: fewer than LLaMA's)")
    rows = [("training step", f"{train['step_s'] * 1e3:.0f} ms", f"{train['steps']} steps", ""),
            ("training tokens/s", f"{train['tokens_s']:,.0f}", "", ""),
            ("training MFU (6N)", f"{mfu:.1%}" if mfu else "n/a", ">= 35%",
             ("ok" if mfu >= 0.35 else "BELOW") if mfu else ""),
            ("hardware util (4N)", f"{train['flops_s_4n'] / peak:.1%}" if peak else "n/a", "", ""),
            ("peak memory", f"{train['peak_gib']:.1f} GiB" if train["peak_gib"] is not None else "n/a", "", ""),
            ("scoring, shared cache", f"{score['shared']:.1f} items/s", "", ""),
            ("scoring, per option", f"{score['per_option']:.1f} items/s", "", ""),
            ("shared / per option", f"{speedup:.2f}x", ">= 2x", "ok" if speedup >= 2 else "BELOW")]
    print(f"{'measure':24} {'value':>16} {'target':>9} {'':5}")
    for row in rows:
        print(f"{row[0]:24} {row[1]:>16} {row[2]:>9} {row[3]:5}")


if __name__ == "__main__":
    main()
