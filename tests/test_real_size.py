"""LTU (CAV-MAE + LLaMA-7B) and Qwen2-Audio-7B at their real sizes on the meta device (shard.models.sizes): the
parameter counts against the published ones, what LoRA wraps, and one interleaved batch of two 5 s clips through
our own front ends, processors and the models' forward. No weights, no memory; seconds on a CPU.

The front ends (LTU's fbank, the Whisper extractor) and the processors run for real on real noise; the models
run on meta under `MetaWithIntegers`, which keeps the integer bookkeeping (token ids, masks) real beside them."""
from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from shard.dataset.features import featurize
from shard.models import AudioLLM, AudioProcessor
from shard.models.hf import LANGUAGE_MODEL, PROJECTOR, HFAudioProcessor, load_processor
from shard.models.sizes import (LLAMA_7B, WHISPER_V3_EXTRACTOR, MetaWithIntegers, hf_on_meta, lora_on_meta,
                                ltu_on_meta, parts, qwen2_audio_config)
from shard.prompts.templates import AUDIO, COMPARE

from .hf_tiny import _tokenizer, build_tiny
from .ltu_tiny import llama_like_tokenizer

LORA = {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": ["q_proj", "v_proj"], "train_projector": False}
# LoRA r=8 on q and v of 32 layers, 4096 wide: 64 modules x (8 x 4096 + 4096 x 8) = 4,194,304 parameters
LORA_MODULES, LORA_PARAMS = 64, 64 * 2 * 8 * 4096
SECONDS, SR = 5.0, 16000
PROMPT = COMPARE.text  # "Are <audio> and <audio> sounds of the same thing?": one interleaved prompt, two clips


def _clips(n: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [0.1 * rng.standard_normal(int(SECONDS * SR)).astype(np.float32) for _ in range(n)]


def _lora_step(llm: AudioLLM, features: list[np.ndarray]) -> tuple[list[str], int, dict[str, torch.Tensor]]:
    """finetune's LoRA on a copy of the model (its regex and projector from the backend), then one training step's
    loss and backward on the interleaved batch, on meta: (wrapped modules, trainable parameters, gradients)."""
    peft, wrapped, trainable = lora_on_meta(copy.deepcopy(llm.model), LORA, llm.language_model, llm.projector)
    tuned = AudioLLM(peft.train(), llm.processor, torch.device("meta"), llm.backend)
    batch = llm.processor([PROMPT], [features], "interleaved", answers=["yes"])
    with MetaWithIntegers():
        tuned.loss(batch).backward()
    return wrapped, trainable, {n: p.grad for n, p in peft.named_parameters() if p.grad is not None}


def _forward(llm: AudioLLM, features: list[np.ndarray]):
    """Our encode (`AudioLLM.encode`: the processor, then to_device) -> forward (with the training loss) for one
    interleaved prompt with `features`, model on meta.
    Returns (the processor's real batch, the model's output)."""
    batch = llm.processor([PROMPT], [features], "interleaved", answers=["yes"])
    with MetaWithIntegers():
        out = llm.model(**llm.to_device(batch))
    return batch, out


# ---------------------------------------------------------------- LTU
@pytest.fixture(scope="module")
def ltu():
    tokenizer = llama_like_tokenizer()  # LLaMA's special ids (<unk> 0, <s> 1, </s> 2), as load_ltu sets them up
    tokenizer.pad_token = tokenizer.unk_token
    tokenizer.add_tokens([AUDIO], special_tokens=True)
    model = ltu_on_meta(audio_token_id=tokenizer.convert_tokens_to_ids(AUDIO), attn_implementation="sdpa")
    return AudioLLM(model, AudioProcessor(tokenizer, model.config.audio_tokens), torch.device("meta"), "ltu")


def test_ltu_parameters_are_llama_7b_plus_cavmae(ltu):
    sizes = parts(ltu.model)
    # LLaMA-7B: 6,738,415,616 (the 6.7B of Touvron et al. 2023, Table 2; HF's LlamaForCausalLM at LLaMA-7B sizes)
    assert sizes["language_model"] == 6_738_415_616
    # CAV-MAE base audio branch: 11 + 1 ViT-B blocks (qkv, proj, MLP 768 -> 3072 -> 768, three LayerNorm pairs),
    # the 16 x 16 patch embedding, the modality and 512 position embeddings, the final norm: 85.7M
    block = (768 * 2304 + 2304) + (768 * 768 + 768) + (768 * 3072 + 3072) + (3072 * 768 + 768) + 6 * 2 * 768
    assert sizes["audio_encoder"] == 12 * block + (768 * 256 + 768) + 768 + 512 * 768 + 2 * 768 == 85_721_088
    # the projector: LayerNorm(768) without affine + Linear(768, 4096)
    assert sizes["projector"] == 768 * 4096 + 4096
    assert sizes["total"] == 6_827_286_528  # about 6.83B


def test_ltu_lora_wraps_the_language_models_q_and_v_only(ltu):
    wrapped, trainable, grads = _lora_step(ltu, [featurize(c, "ltu_fbank", {}) for c in _clips()])
    assert len(wrapped) == LORA_MODULES and trainable == LORA_PARAMS  # 4.19M
    assert all(".language_model.model.layers." in n and n.endswith(("q_proj", "v_proj")) for n in wrapped)
    # a training step reaches every adapter weight and nothing else (the CAV-MAE attention is `qkv`, not q/v)
    assert len(grads) == 2 * LORA_MODULES and sum(g.numel() for g in grads.values()) == LORA_PARAMS
    assert all("lora_" in n for n in grads)


def test_ltu_interleaved_batch_of_two_5s_clips(ltu):
    features = [featurize(c, "ltu_fbank", {}) for c in _clips()]
    assert all(f.shape == (128, 1024) for f in features)  # 5 s padded to LTU's 1024 frames (10.24 s)
    batch, out = _forward(ltu, features)
    ids = batch["input_ids"][0]
    audio = (ids == ltu.processor.audio_token_id).nonzero().squeeze(1)
    assert len(audio) == 2 * 32  # 32 audio tokens per clip: 1024 frames / 16 per patch / 2 pooled
    first, second = audio[:32], audio[32:]
    assert (first.diff() == 1).all() and (second.diff() == 1).all() and second[0] > first[-1] + 1  # two blocks
    assert ids[0] == ltu.processor.bos_id  # interleaved: BOS, then the text with each block at its placeholder
    assert out.logits.shape == (1, len(ids), LLAMA_7B["vocab_size"]) and out.loss.shape == ()
    with MetaWithIntegers():  # the 32 projected tokens per clip that fill those positions
        embeddings = ltu.model.get_audio_embeddings(batch["audio_features"].to("meta"))
    assert embeddings.shape == (2, 32, 4096)


# ---------------------------------------------------------------- Qwen2-Audio
@pytest.fixture(scope="module")
def qwen2_audio(tmp_path_factory):
    """Qwen2-Audio-7B on meta with its real processor classes: WhisperFeatureExtractor as published
    (128 bins, 30 s), the Instruct chat template, a word-level tokenizer with its special tokens (sizes only)."""
    from transformers import Qwen2AudioProcessor, WhisperFeatureExtractor

    tokenizer = _tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>",
                            "<|audio_eos|>"], eos="<|im_end|>", pad="<|endoftext|>")
    folder = tmp_path_factory.mktemp("qwen2_audio_processor")
    Qwen2AudioProcessor(feature_extractor=WhisperFeatureExtractor(**WHISPER_V3_EXTRACTOR),
                        tokenizer=tokenizer).save_pretrained(folder)
    model = hf_on_meta(qwen2_audio_config(audio_token_index=tokenizer.convert_tokens_to_ids("<|AUDIO|>")))
    processor = HFAudioProcessor(load_processor(str(folder)), str(folder), position_ids=True)
    llm = AudioLLM(model, processor, torch.device("meta"), "hf", language_model=LANGUAGE_MODEL, projector=PROJECTOR)
    return folder, llm


def test_qwen2_audio_parameters_are_the_published_8_4b(qwen2_audio):
    sizes = parts(qwen2_audio[1].model)
    # The Whisper-large-v3 encoder (openai/whisper-large-v3: 1.55B in all, its encoder 32 layers x 19.7M + two
    # convolutions + 1500 positions + the final norm), Qwen2-Audio's layer_norm included: 0.64B
    assert sizes["audio_encoder"] == 32 * (4 * 1280 * 1280 + 3 * 1280 + 2 * 1280 * 5120 + 5120 + 1280 + 4 * 1280) \
        + (128 * 3 * 1280 + 1280) + (1280 * 3 * 1280 + 1280) + 1500 * 1280 + 2 * 1280
    assert round(sizes["audio_encoder"] / 1e9, 2) == 0.64
    assert sizes["projector"] == 1280 * 4096 + 4096
    # the Qwen-7B language model (q/k/v with biases, MLP 4096 -> 11008) with Qwen2-Audio's vocabulary (156,032)
    # in untied input and output embeddings: 7.75B
    layer = 3 * (4096 * 4096 + 4096) + 4096 * 4096 + 3 * 4096 * 11008 + 2 * 4096
    assert sizes["language_model"] == 32 * layer + 2 * 156032 * 4096 + 4096 == 7_754_878_976
    # Hugging Face lists Qwen/Qwen2-Audio-7B and -Instruct at 8.4B parameters (their safetensors, BF16)
    assert sizes["total"] == 8_397_094_912


def test_qwen2_audio_lora_wraps_the_language_models_q_and_v_only(qwen2_audio):
    folder, llm = qwen2_audio
    wrapped, trainable, grads = _lora_step(llm, [featurize(c, "hf", {"model": str(folder)}) for c in _clips()])
    # the Whisper encoder's 32 layers have q_proj / v_proj too: none is wrapped
    assert len(wrapped) == LORA_MODULES and trainable == LORA_PARAMS
    assert all(".language_model.layers." in n and n.endswith(("q_proj", "v_proj")) for n in wrapped)
    assert len(grads) == 2 * LORA_MODULES and all("lora_" in n and "audio_tower" not in n for n in grads)


def test_qwen2_audio_interleaved_batch_of_two_5s_clips(qwen2_audio):
    folder, llm = qwen2_audio
    features = [featurize(c, "hf", {"model": str(folder)}) for c in _clips()]
    assert all(f.shape == (128, 500) for f in features)  # stored unpadded: 100 frames per second
    batch, out = _forward(llm, features)
    # the encoder reads each clip in its 30 s window: 3000 frames -> 1500 (stride-2 convolution) -> 750 (pooling)
    assert batch["input_features"].shape == (2, 128, 3000)
    assert batch["feature_attention_mask"].sum(-1).tolist() == [500, 500]
    with MetaWithIntegers():
        encoded = llm.model.model.audio_tower(batch["input_features"].to("meta")).last_hidden_state
    assert encoded.shape == (2, 750, 1280)
    # of the 750 positions, the 5 s clip's own reach the language model: (500 - 1) // 2 + 1 = 250 -> 125
    audio = batch["input_ids"][0] == llm.processor.audio_token_id
    assert int(audio.sum()) == 2 * 125
    assert out.logits.shape == (1, batch["input_ids"].shape[1], 156032) and out.loss.shape == ()


# ---------------------------------------------------------------- bench/gpu_check.py --plan
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def plan():
    """`bench/gpu_check.py --plan --json` on configs/ltu.yaml and configs/qwen2_audio.yaml (a few seconds)."""
    root = ROOT
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), os.environ.get("PYTHONPATH", "")]),
           "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, str(root / "bench" / "gpu_check.py"), "--plan", "--json"], env=env,
                         capture_output=True, text=True, timeout=300, check=True)
    return {row["model"]: row for row in json.loads(out.stdout)}


@pytest.mark.parametrize("name, fixture, per_clip, encoder", [("ltu", "ltu", 32, 512),
                                                             ("qwen2_audio", "qwen2_audio", 125, 1500)])
def test_plan_counts_are_the_meta_devices(plan, request, name, fixture, per_clip, encoder):
    model = request.getfixturevalue(fixture)
    model = model[1].model if isinstance(model, tuple) else model.model
    row, sizes = plan[name], parts(model)
    assert row["parameters"] == sizes
    assert row["lora_modules"] == LORA_MODULES and row["lora_trainable"] == LORA_PARAMS
    assert row["weights_gib"] == pytest.approx(2 * sizes["total"] / 2**30, rel=1e-3)  # bf16 (+ LTU's buffers: none)
    assert row["lora_adamw_gib"] == pytest.approx(16 * LORA_PARAMS / 2**30)
    # both configs: 5 s clips, 1.1 clips per prompt (multi_clip_fraction 0.1), 108 text positions, 16 x 16 prompts
    assert (row["audio_tokens_per_clip"], row["encoder_positions_per_clip"]) == (per_clip, encoder)
    assert row["positions_per_prompt"] == math.ceil(1.1 * per_clip + 108)
    assert row["tokens_per_step"] == 256 * row["positions_per_prompt"]
    embeddings = model.get_input_embeddings().weight.numel()
    flops = 6 * (sizes["language_model"] - embeddings) * row["tokens_per_step"] \
        + 2 * sizes["audio_encoder"] * 256 * 1.1 * encoder
    assert row["flops_per_step"] == pytest.approx(flops)
    # the study's scales, one epoch: 157 steps for 40k prompts, 3907 for 1M, at 35% of 989 TFLOP/s
    assert row["hours_per_scale"]["1000000"] == pytest.approx(3907 * flops / (0.35 * 989e12) / 3600)
    assert row["hours_per_scale"]["40000"] == pytest.approx(157 * flops / (0.35 * 989e12) / 3600)


@pytest.fixture(scope="module")
def gpu_check():
    """bench/gpu_check.py as a module (the bench folder is no package)."""
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "bench" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_quotes_the_plan(plan, gpu_check, capsys):
    """The README's quote of `--plan` is what the script prints for these rows."""
    readme = (ROOT / "README.md").read_text()
    for row in plan.values():
        gpu_check.print_plan(row, row["configfile"])
        printed = capsys.readouterr().out.strip("\n")
        assert "\n".join(("  " + line) if line else "" for line in printed.split("\n")) in readme


def test_plan_builds_any_hf_model_from_its_config_json(gpu_check, tmp_path):
    """A config listing another hf model (a tiny Audio Flamingo 3 here): planned from model.base/config.json;
    mini_ltu is named and left out."""
    import yaml
    from transformers import AutoConfig

    base = build_tiny("audioflamingo3", tmp_path)
    (tmp_path / "study.yaml").write_text(yaml.safe_dump({"features": {"frontends": ["logmel", "hf"]}, "models": {
        "af3": {"model": {"backend": "hf", "base": str(base), "frontend": "hf"}}, "mini_ltu": {}}}))
    args = argparse.Namespace(text_tokens=108, mfu=0.35, peak_tflops=989.0)
    cfg = gpu_check.study_config(str(tmp_path / "study.yaml"))
    rows = {name: gpu_check.plan_model(name, cfg, sections, args)
            for name, sections in gpu_check.study_models(cfg).items()}
    af3 = rows["af3"]
    assert af3["sizes_from"] == f"{base}/config.json"
    assert af3["parameters"] == parts(hf_on_meta(AutoConfig.from_pretrained(base, local_files_only=True)))
    assert af3["lora_modules"] == 2 * 2  # q and v of its 2 language-model layers; its encoder's are left alone
    assert af3["audio_tokens_per_clip"] == 25  # the default's 1 s clips: 100 frames -> 50 -> 25
    assert "mini_ltu" in rows["mini_ltu"]["skipped"]
