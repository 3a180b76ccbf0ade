"""A tiny LTU on disk, for tests and `bench/gpu_check.py --tiny`: nothing is downloaded.

    paths = write_tiny_ltu(tmp_path)      # {"base": LLaMA-style HF dir, "checkpoint": LTU-layout .bin}
    llm = load_model(tiny_model_cfg(paths), paths["base"])   # shard.models.load_model

The base directory holds a small LlamaForCausalLM and a word-level tokenizer with LLaMA's special tokens
(<unk> 0, <s> 1, </s> 2, no pad, no <audio>). The checkpoint is written from LTU's key layout as read in
YuanGongND/ltu (PEFT prefix, CAV-MAE names, `lora_A.default.weight`), not from our module names, so loading it
checks the mapping.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from shard.prompts import templates

# audio: 32 mels x 128 frames -> 2 x 8 patches -> 4 tokens; text: hidden 64
ARCH = {"n_mels": 32, "n_frames": 128, "patch_size": 16, "audio_hidden": 48, "audio_heads": 4, "audio_layers": 2,
        "shared_layers": 1}
N_AUDIO = 4
TEXT = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 4}
WORDS = ["dog", "church bell", "siren", "canine", "hound", "bell", "alarm", "signal", "device", "yes", "no", "animal"]
TEXTS = [templates.LTU_PROMPT, templates.to_original(templates.CAPTION.text), templates.CAPTION.text,
         "Is <audio> a kind of ? Options: , .",
         "Which of these is <audio> and <audio> the same ?", *WORDS]


def llama_like_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    tok.train_from_iterator(TEXTS, trainers.WordLevelTrainer(special_tokens=["<unk>", "<s>", "</s>"]))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def sentencepiece_llama_tokenizer(directory: Path):
    """A tiny sentencepiece BPE model saved as LLaMA's slow tokenizer is (tokenizer.model + LlamaTokenizer in
    tokenizer_config.json, as in LTU's vicuna_ltu): <unk> 0, <s> 1, </s> 2, byte fallback. transformers reads it
    only with sentencepiece and protobuf installed."""
    import io

    import sentencepiece as spm
    from transformers import AutoTokenizer

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(TEXTS * 20), model_writer=model, vocab_size=330,
                                   model_type="bpe", unk_id=0, bos_id=1, eos_id=2, pad_id=-1, byte_fallback=True,
                                   character_coverage=1.0, normalization_rule_name="identity", minloglevel=2)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tokenizer.model").write_bytes(model.getvalue())
    (directory / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
        "add_bos_token": True, "add_eos_token": False, "legacy": True}))
    return AutoTokenizer.from_pretrained(directory)


def release_shapes(arch: dict = ARCH, text: dict = TEXT, lora_r: int = 8) -> dict[str, tuple[int, ...]]:
    """Key -> shape of LTU's released trainable file (ltu_ori_paper.bin), for the given sizes."""
    d, p = arch["audio_hidden"], arch["patch_size"]
    n_patches = (arch["n_mels"] // p) * (arch["n_frames"] // p)
    enc = "base_model.model.model.audio_encoder."
    shapes = {enc + "patch_embed_a.proj.weight": (d, 1, p, p), enc + "patch_embed_a.proj.bias": (d,),
              enc + "modality_a": (1, 1, d), enc + "pos_embed_a": (1, n_patches, d),
              enc + "norm_a.weight": (d,), enc + "norm_a.bias": (d,)}
    blocks = [f"blocks_a.{i}." for i in range(arch["audio_layers"])] + \
             [f"blocks_u.{i}." for i in range(arch["shared_layers"])]
    for b in blocks:
        for norm in ("norm1", "norm1_a", "norm1_v", "norm2", "norm2_a", "norm2_v"):
            shapes[f"{enc}{b}{norm}.weight"] = shapes[f"{enc}{b}{norm}.bias"] = (d,)
        shapes.update({f"{enc}{b}attn.qkv.weight": (3 * d, d), f"{enc}{b}attn.qkv.bias": (3 * d,),
                       f"{enc}{b}attn.proj.weight": (d, d), f"{enc}{b}attn.proj.bias": (d,),
                       f"{enc}{b}mlp.fc1.weight": (4 * d, d), f"{enc}{b}mlp.fc1.bias": (4 * d,),
                       f"{enc}{b}mlp.fc2.weight": (d, 4 * d), f"{enc}{b}mlp.fc2.bias": (d,)})
    h = text["hidden_size"]
    proj = "base_model.model.model.audio_proj.1."
    shapes.update({proj + "weight": (h, d), proj + "bias": (h,)})
    for i in range(text["num_hidden_layers"]):
        for proj in ("q_proj", "v_proj"):
            key = f"base_model.model.model.layers.{i}.self_attn.{proj}"
            shapes[f"{key}.lora_A.default.weight"] = (lora_r, h)
            shapes[f"{key}.lora_B.default.weight"] = (h, lora_r)
    return shapes


def write_tiny_ltu(root: Path, seed: int = 0, sentencepiece: bool = False) -> dict[str, str]:
    """A tiny LLaMA directory and an LTU-layout checkpoint (random weights, LoRA B non-zero) under `root`.
    `sentencepiece`: LLaMA's kind of tokenizer (sentencepiece_llama_tokenizer) instead of a word-level one."""
    root = Path(root)
    base, checkpoint = root / "llama", root / "ltu_tiny.bin"
    tok = sentencepiece_llama_tokenizer(base) if sentencepiece else llama_like_tokenizer()
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), max_position_embeddings=256, bos_token_id=1, eos_token_id=2,
                      tie_word_embeddings=False, **TEXT)
    LlamaForCausalLM(cfg).save_pretrained(base)
    if not sentencepiece:  # the sentencepiece one is already there, as LLaMA ships it
        tok.save_pretrained(base)
    g = torch.Generator().manual_seed(seed)
    state = {k: torch.randn(shape, generator=g) * 0.05 + (".norm" in k and k.endswith(".weight"))  # norms near 1
             for k, shape in release_shapes().items()}
    torch.save(state, checkpoint)
    return {"base": str(base), "checkpoint": str(checkpoint)}


def tiny_model_cfg(paths: dict, **extra) -> dict:
    return {"backend": "ltu", "base": paths["base"], "checkpoint": paths["checkpoint"], "frontend": "ltu_fbank",
            "device": "cpu", "architecture": ARCH, **extra}
