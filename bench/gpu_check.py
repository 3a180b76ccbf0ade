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

    python bench/gpu_check.py --plan [--configfile configs/ltu.yaml ...] [--mfu 0.35] [--json]

--plan needs no GPU and no weights (seconds on a CPU): each model of each config (default configs/ltu.yaml and
configs/qwen2_audio.yaml, over config.yaml) is built on the meta device (shard.models.sizes) at the sizes of its
model.base/config.json, or where that folder is absent at the published sizes (LTU: LLaMA-7B; a base named
Qwen2-Audio-7B*: its published config.json), and the plan is printed from its real parameter counts:
  weights        parameters x bytes of model.dtype (default bf16)
  LoRA + AdamW   trainable x 16 bytes (PEFT keeps adapters in fp32: weights, gradients, two moments)
  activations    per micro-batch (finetune.batch_size prompts of S positions), transformers' bf16 layers:
                 L x b x S x (6h + 2h_kv + 4i) x 2 bytes (norm inputs/outputs, q, k, v, attention output; SwiGLU's
                 gate, up, activation, product; flash/SDPA keeps no S x S scores), with gradient checkpointing
                 L x b x S x h x 2 bytes (layer inputs) + one layer's; plus the logits b x S x V x 10 bytes (bf16,
                 the fp32 upcast for the loss, its gradient). The frozen audio encoder keeps nothing for backward.
  S              clips per prompt (1 + prompts.multi_clip_fraction) x audio tokens per clip + --text-tokens
  tokens/step    finetune.batch_size x grad_accum x S
  hours          steps (scale x epochs / prompts per step) x FLOPs per step / (MFU x --peak-tflops), FLOPs per
                 step as above: 6 N_lm per position + 2 N_audio per audio-encoder position (its whole window)
An estimate to size a cluster request, not a measurement: run the measuring mode on the GPU itself.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from peft import get_peft_model
from transformers import LlamaConfig

from shard.prompts import templates
from shard.models.finetune import lora_config
from shard.models import AudioLLM, AudioProcessor, build_tokenizer, resolve_device
from shard.models.ltu import LTUConfig, LTUForConditionalGeneration
from shard.models import sizes
from shard.models.hf import LANGUAGE_MODEL, PROJECTOR
from shard.config import scale_name, study_models

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


# ---------------------------------------------------------------- --plan: sizes and cost from the meta device
ROOT = Path(__file__).resolve().parent.parent
PLAN_CONFIGS = ("configs/ltu.yaml", "configs/qwen2_audio.yaml")
FRAMES_PER_SECOND = 100  # Whisper's extractor: 10 ms hop at 16 kHz
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
GIB = 2 ** 30
# what each loader's AudioLLM names for LoRA (language_model regex, projector): load_ltu keeps the defaults
LORA_SCOPE = {"ltu": (LANGUAGE_MODEL, "projector"), "hf": (LANGUAGE_MODEL, PROJECTOR)}


def study_config(configfile: str) -> dict:
    """config.yaml with `configfile` merged over it, as `snakemake --configfile` does (not validated: the model
    paths need not exist for a plan)."""
    import yaml

    from shard.config import _merged  # the merge --configfile does

    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    return _merged(base, yaml.safe_load((ROOT / configfile).read_text()) or {})


def meta_model(model_cfg: dict):
    """(model on meta, where its sizes come from) for an ltu or hf model section; (None, reason) otherwise."""
    base = Path(model_cfg["base"]) if model_cfg.get("base") else None
    own = base is not None and (base / "config.json").is_file()
    if model_cfg["backend"] == "ltu":
        text = LlamaConfig.from_pretrained(base, local_files_only=True).to_dict() if own else sizes.LLAMA_7B
        return sizes.ltu_on_meta(text, model_cfg.get("architecture")), \
            f"{base}/config.json" if own else "LTU release + LLaMA-7B (published sizes)"
    if model_cfg["backend"] == "hf":
        if own:
            from transformers import AutoConfig

            return sizes.hf_on_meta(AutoConfig.from_pretrained(base, local_files_only=True)), f"{base}/config.json"
        if base is not None and base.name.lower().startswith("qwen2-audio-7b"):
            return sizes.hf_on_meta(sizes.qwen2_audio_config()), "Qwen2-Audio-7B config.json (published sizes)"
        return None, f"no config.json in model.base '{base}' (copy the model's config.json there to plan it)"
    return None, f"backend {model_cfg['backend']} (trained on CPU here: see the README's timings)"


def audio_shape(model, seconds: float) -> tuple[int, int]:
    """(audio tokens per clip in the language model, positions the audio encoder runs per clip)."""
    core = getattr(model, "model", model)
    if hasattr(core, "audio_encoder"):  # LTU: fixed 32 tokens from 512 patches of the 1024-frame fbank
        c = model.config
        return c.audio_tokens, (c.n_mels // c.patch_size) * (c.n_frames // c.patch_size)
    tower = core.audio_tower
    window = tower.config.max_source_positions  # Whisper-style: the 30 s window after the stride-2 convolution
    lengths = getattr(tower, "_get_feat_extract_output_lengths", None)
    if lengths is None:  # e.g. Voxtral: every clip padded to its window, pooled x 2
        return window // 2, window
    return int(lengths(torch.tensor(int(seconds * FRAMES_PER_SECOND)))[-1]), window


def activation_bytes(text, batch: int, seq: int, checkpointing: bool) -> int:
    """The formula in the docstring: bf16 activations kept for backward by one micro-batch."""
    h, layers, vocab = text.hidden_size, text.num_hidden_layers, text.vocab_size
    kv = h // text.num_attention_heads * text.num_key_value_heads
    per_layer = batch * seq * (6 * h + 2 * kv + 4 * text.intermediate_size) * 2
    kept = layers * batch * seq * h * 2 + per_layer if checkpointing else layers * per_layer
    return kept + batch * seq * vocab * 10


def plan_model(name: str, cfg: dict, sections: dict, args) -> dict:
    model_cfg, ft = sections["model"], sections["finetune"]
    model, source = meta_model(model_cfg)
    if model is None:
        return {"model": name, "skipped": source}
    dtype = model_cfg.get("dtype") or "bfloat16"
    model = model.to(DTYPES[dtype])
    counts = sizes.parts(model)
    llm = model.language_model if hasattr(model, "language_model") else model.model.language_model
    embeddings = llm.get_input_embeddings().weight.numel()
    lm_matmul = counts["language_model"] - embeddings  # lm_head included, the embedding table (a lookup) not
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    per_clip, encoder_positions = audio_shape(model, cfg["clips"]["seconds"])
    _, wrapped, trainable = sizes.lora_on_meta(model, ft["lora"], *LORA_SCOPE[model_cfg["backend"]])
    clips = 1 + cfg["prompts"]["multi_clip_fraction"]
    seq = math.ceil(clips * per_clip + args.text_tokens)
    batch, accum, ckpt = ft["batch_size"], ft["grad_accum"], bool(model_cfg.get("gradient_checkpointing"))
    text = llm.config
    activations = activation_bytes(text, batch, seq, ckpt)
    prompts_per_step = batch * accum
    flops = 6 * lm_matmul * prompts_per_step * seq + 2 * counts["audio_encoder"] * prompts_per_step * clips \
        * encoder_positions
    hours = {str(n): math.ceil(n * ft["epochs"] / prompts_per_step) * flops / (args.mfu * args.peak_tflops * 1e12)
             / 3600 for n in cfg["prompts"]["train_scales"]}
    return {"model": name, "sizes_from": source, "dtype": dtype, "parameters": counts, "lora_modules": len(wrapped),
            "lora_trainable": trainable, "weights_gib": weights / GIB, "lora_adamw_gib": 16 * trainable / GIB,
            "activations_gib": activations / GIB,
            "total_gib": (weights + 16 * trainable + activations) / GIB,
            "audio_tokens_per_clip": per_clip, "encoder_positions_per_clip": encoder_positions,
            "positions_per_prompt": seq, "micro_batch": batch, "grad_accum": accum, "gradient_checkpointing": ckpt,
            "tokens_per_step": prompts_per_step * seq, "flops_per_step": flops, "hours_per_scale": hours,
            "mfu": args.mfu, "peak_tflops": args.peak_tflops}


def _count(n: float) -> str:
    """6.83B, 85.7M, 4.19M, 12.3k: three significant digits."""
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.3g}{unit}"
    return f"{n:.0f}"


def print_plan(row: dict, configfile: str) -> None:
    if "skipped" in row:
        print(f"\n{row['model']} ({configfile}): not planned: {row['skipped']}")
        return
    p = row["parameters"]
    print(f"\n{row['model']} ({configfile}; sizes: {row['sizes_from']}), {row['dtype']}")
    print(f"  parameters        {_count(p['total'])}: audio encoder {_count(p['audio_encoder'])}, projector "
          f"{_count(p['projector'])}, language model {_count(p['language_model'])}")
    print(f"  LoRA              {_count(row['lora_trainable'])} trainable on {row['lora_modules']} modules "
          "(the language model's)")
    print(f"  weights           {row['weights_gib']:8.3g} GiB")
    print(f"  LoRA + AdamW      {row['lora_adamw_gib']:8.3g} GiB")
    ckpt = ", gradient checkpointing" if row["gradient_checkpointing"] else ""
    print(f"  activations       {row['activations_gib']:8.3g} GiB  (micro-batch {row['micro_batch']} x "
          f"{row['positions_per_prompt']} positions{ckpt})")
    print(f"  total             {row['total_gib']:8.3g} GiB  (plus the CUDA context and allocator slack)")
    print(f"  positions/prompt  {row['positions_per_prompt']}: {row['audio_tokens_per_clip']} audio tokens per clip "
          f"(encoder: {row['encoder_positions_per_clip']} positions per clip)")
    print(f"  tokens per step   {row['tokens_per_step']:,} ({row['micro_batch']} x {row['grad_accum']} prompts)")
    hours = ", ".join(f"{scale_label(n)}: {h:.3g} h" for n, h in row["hours_per_scale"].items())
    print(f"  fine-tuning job   {hours}  (one GPU at MFU {row['mfu']:.2f} of {row['peak_tflops']:.0f} TFLOP/s; "
          "evaluation not included)")


def scale_label(n: str) -> str:
    return "ft_" + scale_name(int(n))


def plan(args) -> None:
    rows = []
    for configfile in args.configfile or PLAN_CONFIGS:
        cfg = study_config(configfile)
        for name, sections in study_models(cfg).items():
            row = {**plan_model(name, cfg, sections, args), "configfile": configfile}
            rows.append(row)
            if not args.json:
                print_plan(row, configfile)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(f"\nA plan from parameter counts on the meta device and the formulas in {Path(__file__).name}'s "
              "docstring: an estimate, not a measurement.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiny", action="store_true", help="toy sizes on CPU: checks the script, measures nothing")
    ap.add_argument("--minutes", type=float, default=5.0, help="time budget for the measurements (build excluded)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--items", type=int, default=32, help="scoring prompts per call")
    ap.add_argument("--gradient-checkpointing", action="store_true")
    ap.add_argument("--plan", action="store_true", help="no GPU: memory and hours per model of --configfile, "
                    "from the real sizes on the meta device")
    ap.add_argument("--configfile", action="append", help=f"--plan: a study config (default: {' '.join(PLAN_CONFIGS)})")
    ap.add_argument("--mfu", type=float, default=0.35, help="--plan: assumed model FLOPs utilisation")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="--plan: the GPU's dense bf16 peak "
                    "(H100 SXM / H200: 989; A100: 312)")
    ap.add_argument("--text-tokens", type=int, default=CUTOFF_LEN, help="--plan: text positions per training "
                    "prompt, chat template and answer included (default: LTU's cutoff_len)")
    ap.add_argument("--json", action="store_true", help="--plan: print the plan as JSON")
    args = ap.parse_args()
    if args.plan:
        return plan(args)
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
