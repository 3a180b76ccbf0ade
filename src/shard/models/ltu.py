"""ltu: LTU (Gong et al., "Listen, Think, and Understand") as released in YuanGongND/ltu, on the mini_ltu interface.

    fbank (128 mel x 1024 frames) -> CAV-MAE audio branch (16x16 patches: 8 x 64 grid, 11 audio blocks + 1 shared
      block run with its audio norms, final norm) -> mean over the 8 frequency rows -> avg-pool 2 frames -> 32 x 768
      -> / 50 -> projector (LayerNorm(768) without affine, Linear(768, 4096)) -> the 32 `<audio>` positions
      -> language_model (LLaMA-7B / Vicuna, transformers' LlamaForCausalLM from a local directory)

Read from the repository (commit 2002aad):
  src/ltu/hf-dev/transformers-main/src/transformers/models/llama/modeling_llama.py
    CAVMAEFTAudio, Block (norm1/norm2 used by blocks_a, norm1_a/norm2_a by blocks_u, norm*_v unused but saved),
    timm 0.4.5 Attention (qkv, proj) and Mlp (fc1, GELU, fc2); LlamaModel.forward: pooling, `/ 50`, audio_proj, and
    the audio concatenated *before* the text embeddings (BOS follows the audio; positions count the audio first).
    The block's `x + 0.0 * (norms...)` (a DDP workaround) adds zero and is left out.
  src/ltu/finetune.py, src/ltu/train_script/stage4_all_mix.sh: LoRA r=8, alpha=16, dropout 0.05 on q_proj/v_proj,
    cutoff_len 108, template alpaca_short (src/ltu/templates/alpaca_short.json = shard.prompts.templates.LTU_PROMPT),
    pad id 0 (<unk>), bf16 training.
  src/ltu/peft-main (peft 0.3.0.dev0): LoRA weights live in ModuleDicts, so their keys read `lora_A.default.weight`.
  src/ltu/convert_pretrained_weights.py: the released files (ltu_ori_paper.bin) are the PEFT model's state_dict()
    filtered to names containing 'lora' or 'audio'; the full fine-tune (full_ft_2e-5_20000.bin) keeps the LLM too.

Checkpoint keys -> this module (`load_ltu_checkpoint`):
    base_model.model.model.audio_encoder.*                         -> audio_encoder.*   (same names inside)
    base_model.model.model.audio_proj.1.{weight,bias}              -> projector.1.*
    base_model.model.model.layers.N.self_attn.X.lora_{A,B}.default.weight
                                                                  -> merged into language_model...X.weight
    base_model.model.model.* / base_model.model.lm_head.weight     -> language_model.model.* / .lm_head.* (full FT)
LTU's LoRA is merged into the base q/v weights at load (W += alpha / r * B @ A, in float32, before the model is
cast to model.dtype: LTU's release runs float16 with its LoRA unmerged in float32). The model is then a plain LLaMA
and fine-tuning (finetune.recipe `lora`) adds our own PEFT adapter on top, through the same `finetune.lora_config`
as mini_ltu. finetune.recipe `authors` is LTU's stage 4 instead (`ltu_stage4`): LTU's own LoRA, not merged, is
continued as the PEFT adapter, and the audio encoder and projector train with it (src/ltu/finetune.py,
--trainable_params all); the adapter then holds LTU's LoRA, so loading it leaves the checkpoint's unmerged.

The tokenizer is LLaMA's (vicuna_ltu's tokenizer.model: transformers reads it with sentencepiece and protobuf);
<unk>, <s>, </s> must be ids 0, 1, 2, and <unk> pads, as LTU sets them (src/ltu/inference_batch.py).

The LLaMA tokenizer has no `<audio>` token: it is added to the tokenizer only (id 32000 for LLaMA), the embedding
table is not resized, and the model looks up <unk> at those positions before scattering the audio in.
"""
from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from transformers import LlamaConfig, LlamaForCausalLM, PretrainedConfig

from shard.common import ShardError
from shard.prompts.templates import AUDIO
from shard.models.interface import AudioLLM, with_adapter
from shard.models.mini_ltu import MiniLTUForConditionalGeneration
from shard.models.processor import AudioProcessor

PEFT_PREFIX = "base_model.model."  # PeftModel -> LoraModel -> LTU's LlamaForCausalLM
LORA_KEY = re.compile(r"^(?P<module>.+)\.lora_(?P<half>[AB])(?:\.default)?\.weight$")


class LTUConfig(PretrainedConfig):
    """LTU's sizes; the defaults are the release's (CAV-MAE base over a 128 x 1024 fbank, 32 audio tokens)."""
    model_type = "ltu"
    sub_configs = {"text_config": LlamaConfig}

    def __init__(self, n_mels: int = 128, n_frames: int = 1024, patch_size: int = 16, audio_hidden: int = 768,
                 audio_heads: int = 12, audio_layers: int = 11, shared_layers: int = 1, mlp_ratio: float = 4.0,
                 time_pool: int = 2, audio_scale: float = 50.0, audio_token_id: int = 32000, lora_r: int = 8,
                 lora_alpha: int = 16, text_config: dict | LlamaConfig | None = None, **kwargs):
        self.n_mels, self.n_frames, self.patch_size = n_mels, n_frames, patch_size
        self.audio_hidden, self.audio_heads, self.mlp_ratio = audio_hidden, audio_heads, mlp_ratio
        self.audio_layers, self.shared_layers = audio_layers, shared_layers  # CAV-MAE: blocks_a, blocks_u
        self.time_pool, self.audio_scale, self.audio_token_id = time_pool, audio_scale, audio_token_id
        self.lora_r, self.lora_alpha = lora_r, lora_alpha  # LTU's LoRA, merged at load; the file has no alpha
        if isinstance(text_config, dict):
            text_config = LlamaConfig(**text_config)
        self.text_config = text_config if text_config is not None else LlamaConfig()
        super().__init__(**kwargs)

    @property
    def audio_tokens(self) -> int:
        """32 for LTU: 1024 frames / 16 per patch / 2 per pooled token."""
        return self.n_frames // self.patch_size // self.time_pool


# ---------------------------------------------------------------- CAV-MAE audio branch (LTU's names)
class Attention(nn.Module):
    """timm 0.4.5 Attention: one qkv projection, softmax(q k^T / sqrt(d_head)) v, proj."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """CAV-MAE block: shared attention/MLP, one pair of norms per modality ('' joint, '_a' audio, '_v' video)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        for name in ("norm1", "norm1_a", "norm1_v", "norm2", "norm2_a", "norm2_v"):
            setattr(self, name, nn.LayerNorm(dim))
        self.attn = Attention(dim, heads)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, modality: str = "") -> torch.Tensor:
        x = x + self.attn(getattr(self, "norm1" + modality)(x))
        return x + self.mlp(getattr(self, "norm2" + modality)(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(1, dim, kernel_size=patch, stride=patch)


class CAVMAEAudio(nn.Module):
    """(clips, n_mels, n_frames) -> (clips, mel patches x frame patches, audio_hidden), mel-major like LTU's
    transpose(2, 3) of its (frames, mels) input. `pos_embed_a` is a trained parameter in the release."""

    def __init__(self, c: LTUConfig):
        super().__init__()
        d, n_patches = c.audio_hidden, (c.n_mels // c.patch_size) * (c.n_frames // c.patch_size)
        self.patch_embed_a = PatchEmbed(c.patch_size, d)
        self.modality_a = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed_a = nn.Parameter(torch.zeros(1, n_patches, d))
        self.blocks_a = nn.ModuleList(Block(d, c.audio_heads, c.mlp_ratio) for _ in range(c.audio_layers))
        self.blocks_u = nn.ModuleList(Block(d, c.audio_heads, c.mlp_ratio) for _ in range(c.shared_layers))
        self.norm_a = nn.LayerNorm(d)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        features = features.to(self.patch_embed_a.proj.weight.dtype)
        x = self.patch_embed_a.proj(features.unsqueeze(1)).flatten(2).transpose(1, 2)
        x = x + self.pos_embed_a + self.modality_a
        for blk in self.blocks_a:
            x = blk(x)
        for blk in self.blocks_u:
            x = blk(x, "_a")
        return self.norm_a(x)


# ---------------------------------------------------------------- the model
class LTUForConditionalGeneration(MiniLTUForConditionalGeneration):
    """LTU on mini_ltu's forward / merge_audio / generation: only the audio path and the init differ."""
    config_class = LTUConfig
    base_model_prefix = "ltu"

    def __init__(self, config: LTUConfig, language_model: LlamaForCausalLM | None = None):
        # skips MiniLTU's __init__ (its modules), keeps its methods
        super(MiniLTUForConditionalGeneration, self).__init__(config)
        self.audio_encoder = CAVMAEAudio(config)
        self.projector = nn.Sequential(nn.LayerNorm(config.audio_hidden, elementwise_affine=False),
                                       nn.Linear(config.audio_hidden, config.text_config.hidden_size))
        if language_model is not None:  # loaded weights: post_init must not re-initialise them
            for module in language_model.modules():
                module._is_hf_initialized = True
        self.language_model = language_model if language_model is not None else LlamaForCausalLM(config.text_config)
        self.post_init()

    def _init_weights(self, module):
        # only for the audio path (the language model has its own); the release overwrites all of it
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm) and module.weight is not None:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, CAVMAEAudio):
            nn.init.normal_(module.pos_embed_a, std=0.02)
            nn.init.normal_(module.modality_a, std=0.02)

    def get_audio_embeddings(self, audio_features: torch.Tensor) -> torch.Tensor:
        """(clips, n_mels, n_frames) -> (clips, audio_tokens, hidden), LTU's LlamaModel.forward pooling."""
        c = self.config
        x = self.audio_encoder(audio_features)
        x = x.view(len(x), c.n_mels // c.patch_size, -1, x.shape[-1]).mean(1)  # mean over the mel rows
        x = F.avg_pool2d(x, (c.time_pool, 1))  # neighbouring frame patches
        return self.projector(x / c.audio_scale)


# ---------------------------------------------------------------- LTU's released checkpoint
def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from .safetensors, or from a torch.save file without unpickling anything but tensors."""
    path = Path(path)
    if not path.is_file():
        raise ShardError(f"LTU checkpoint '{path}' does not exist; set model.checkpoint to LTU's released file "
                         "(e.g. ltu_ori_paper.bin)")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ShardError(f"LTU checkpoint '{path}' holds objects other than tensors, and is not unpickled (it could "
                         f"run code): {str(err).splitlines()[0]}; convert it to a plain state dict or .safetensors") \
            from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ShardError(f"LTU checkpoint '{path}' is not a state dict (name -> tensor)")
    return state


def _our_name(key: str) -> str | None:
    """LTU's LlamaForCausalLM name (PEFT prefix removed) -> ours; None when it is no module of ours."""
    if key.startswith("model.audio_encoder."):
        return key[len("model."):]
    if key.startswith("model.audio_proj."):
        return "projector." + key[len("model.audio_proj."):]
    if key.startswith(("model.", "lm_head.")):
        return "language_model." + key
    return None


def _listing(items: list[str], sep: str = ", ", limit: int = 20) -> str:
    """The first `limit` items: a wrong file (e.g. LTU-AS's) would otherwise list thousands."""
    return sep.join(items[:limit]) + (f"{sep}... ({len(items) - limit} more)" if len(items) > limit else "")


def load_ltu_checkpoint(model: LTUForConditionalGeneration, state: dict[str, torch.Tensor], source: str,
                        merge_lora: bool = True) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Copy LTU's weights into `model`, merging its LoRA into the language model's q/v weights in float32 (those
    weights are float32 afterwards: cast the model once, after). Returns LTU's LoRA, our weight name -> (A, B);
    `merge_lora=False` leaves it unmerged (finetune.recipe authors continues it).

    Every key of `state` must land somewhere and every audio-path weight must come from it: anything else is a
    ShardError listing the keys. Language-model weights are optional (the released LoRA file has none).
    """
    params = dict(model.named_parameters())
    rotary = model.language_model.model.rotary_emb.inv_freq
    required = {n for n in params if n.startswith(("audio_encoder.", "projector."))}
    unexpected, mismatched, loaded, lora = [], [], set(), {}
    for key, value in state.items():
        name = key[len(PEFT_PREFIX):] if key.startswith(PEFT_PREFIX) else None
        match = LORA_KEY.match(name) if name else None
        target = _our_name(match["module"] + ".weight" if match else name) if name else None
        if name and name.endswith("rotary_emb.inv_freq"):  # old transformers saved this computed buffer
            if not torch.allclose(value.float(), rotary.float().cpu(), rtol=1e-5, atol=1e-6):
                mismatched.append(f"{key}: rotary frequencies differ from the base model's (rope_theta?)")
            continue
        if target not in params:
            unexpected.append(key)
        elif match:
            lora.setdefault(target, {})[match["half"]] = value
        elif params[target].shape != value.shape:
            mismatched.append(f"{key}: {tuple(value.shape)} in the file, {tuple(params[target].shape)} in the model")
        else:
            with torch.no_grad():
                params[target].copy_(value)
            loaded.add(target)
    missing = sorted(required - loaded) + sorted(f"LoRA {'B' if 'A' in ab else 'A'} of {t}" for t, ab in lora.items()
                                                 if len(ab) == 1)
    r, scale = model.config.lora_r, model.config.lora_alpha / model.config.lora_r
    for target, ab in lora.items():
        if len(ab) == 2 and (ab["A"].shape[0] != r or ab["B"].shape[1] != r
                             or (ab["B"].shape[0], ab["A"].shape[1]) != params[target].shape):
            mismatched.append(f"{target}: LoRA A {tuple(ab['A'].shape)} / B {tuple(ab['B'].shape)} do not fit "
                                f"r={r} and weight {tuple(params[target].shape)}")
    problems = [f"{len(unexpected)} unexpected key(s): {_listing(unexpected)}"] if unexpected else []
    problems += [f"{len(missing)} missing: {_listing(missing)}"] if missing else []
    problems += [f"{len(mismatched)} mismatched: {_listing(mismatched, '; ')}"] if mismatched else []
    if problems:
        raise ShardError(f"LTU checkpoint '{source}' does not fit the ltu model ({' | '.join(problems)}); "
                         "use LTU's released file for a LLaMA-7B base (keys 'base_model.model.model.audio_encoder.*', "
                         "'...audio_proj.*', '...q_proj.lora_A.default.weight')")
    if merge_lora:
        with torch.no_grad():
            for target, ab in lora.items():
                w = params[target]
                w.data = w.float() + scale * ab["B"].float() @ ab["A"].float()
    return {target: (ab["A"], ab["B"]) for target, ab in lora.items()}


def llama_tokenizer(base_dir: str):
    """LTU's LLaMA tokenizer from `base_dir`, with `<audio>` added and <unk> (id 0) padding, as LTU sets it."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(base_dir, local_files_only=True)
    except (ImportError, ValueError, OSError) as err:
        raise ShardError(f"LLaMA tokenizer in '{base_dir}' does not load ({str(err).splitlines()[0]}); LTU's "
                         "vicuna_ltu holds a sentencepiece tokenizer.model: install sentencepiece and protobuf "
                         "(envs/install.sh does)") from None
    ids = (tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id)
    if ids != (0, 1, 2):
        raise ShardError(f"tokenizer in '{base_dir}': <unk>, <s>, </s> are ids {ids}, not LLaMA's 0, 1, 2 (which LTU "
                         "was trained with); point model.base at LTU's vicuna_ltu or another LLaMA-7B directory")
    tokenizer.pad_token = tokenizer.unk_token  # LTU: pad_token_id = 0 (<unk>), unlike EOS
    if AUDIO not in tokenizer.get_vocab():
        tokenizer.add_tokens([AUDIO], special_tokens=True)
    return tokenizer


def build_ltu(model_cfg: dict, base_dir: str, device: torch.device, merge_lora: bool = True):
    """(model on the CPU in model.dtype, tokenizer, LTU's LoRA as our weight name -> (A, B)) from local files.
    model.dtype null: bfloat16 on GPU, float32 on CPU."""
    if not (Path(base_dir) / "config.json").is_file():
        raise ShardError(f"LLaMA directory '{base_dir}' has no config.json; point model.base at a local Hugging Face "
                         "LLaMA-7B / Vicuna directory (LTU's vicuna_ltu)")
    if not model_cfg.get("checkpoint"):
        raise ShardError("config key 'model.checkpoint' is required for model.backend=ltu: LTU's released weights "
                         "(e.g. ltu_ori_paper.bin)")
    # the stored dtype (float16 for vicuna_ltu): nothing is rounded before the LoRA is merged
    lm = LlamaForCausalLM.from_pretrained(base_dir, dtype="auto", local_files_only=True)
    tokenizer = llama_tokenizer(base_dir)
    # attn_implementation: PretrainedConfig's init sets it on text_config too (to None, were it not given)
    config = LTUConfig(text_config=lm.config, attn_implementation=lm.config._attn_implementation,
                       audio_token_id=tokenizer.convert_tokens_to_ids(AUDIO),
                       pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, **model_cfg.get("architecture", {}))
    model = LTUForConditionalGeneration(config, language_model=lm)
    lora = load_ltu_checkpoint(model, read_weights(model_cfg["checkpoint"]), model_cfg["checkpoint"], merge_lora)
    model = model.to(getattr(torch, model_cfg.get("dtype") or ("bfloat16" if device.type == "cuda" else "float32")))
    if model_cfg.get("gradient_checkpointing"):
        model.language_model.activation_checkpointing_enable({"use_reentrant": False})
    return model, tokenizer, lora


def continues_ltu_lora(adapter_dir: str | None) -> bool:
    """Whether the adapter was trained by finetune.recipe authors (LTU's stage 4): it then holds LTU's own LoRA,
    continued, and the checkpoint's must not be merged under it."""
    from shard.models.finetune import TRAIN_CONFIG

    path = Path(adapter_dir) / TRAIN_CONFIG if adapter_dir else None
    if path is None or not path.is_file():
        return False
    return json.loads(path.read_text()).get("finetune", {}).get("recipe") == "authors"


def load_ltu(model_cfg: dict, base_dir: str, adapter_dir: str | None, device: torch.device) -> AudioLLM:
    """LTU from local files: LLaMA / Vicuna from `base_dir` (model.base), LTU's weights from model.checkpoint,
    and an optional PEFT adapter of ours. model.dtype (bf16 on GPU, fp32 on CPU by default; LTU's release runs
    float16). model.architecture (optional) overrides LTUConfig's audio sizes, whose defaults are the release's:
    for tests and benchmarks at toy scale."""
    model, tokenizer, _ = build_ltu(model_cfg, base_dir, device, merge_lora=not continues_ltu_lora(adapter_dir))
    model = with_adapter(model, adapter_dir).eval()
    return AudioLLM(model, AudioProcessor(tokenizer, model.config.audio_tokens), device, "ltu")


def ltu_stage4(model_cfg: dict, base_dir: str, device: torch.device, finetune_cfg: dict):
    """LTU's stage-4 fine-tuning (src/ltu/finetune.py --trainable_params all, train_script/stage4_all_mix.sh):
    LTU's own LoRA (r 8, alpha 16 on q_proj / v_proj, finetune.lora.dropout) continued as the PEFT adapter, and
    every parameter named 'audio' (the audio encoder, the projector) trained with it; the LLaMA stays frozen.
    The trainable weights are float32, as under LTU's Trainer (float32 weights, bf16 autocast). Returns (AudioLLM,
    trainable parameters); the saved adapter holds the LoRA and the two audio modules."""
    from peft import get_peft_model

    from shard.models.finetune import lora_config

    lora = finetune_cfg["lora"]
    model, tokenizer, ltu_lora = build_ltu(model_cfg, base_dir, device, merge_lora=False)
    c = model.config
    if (lora["r"], lora["alpha"], sorted(lora["target_modules"])) != (c.lora_r, c.lora_alpha, ["q_proj", "v_proj"]):
        raise ShardError(f"config key 'finetune.lora': finetune.recipe authors continues LTU's own LoRA (r {c.lora_r}, "
                         f"alpha {c.lora_alpha}, target_modules [q_proj, v_proj]), not r {lora['r']}, alpha "
                         f"{lora['alpha']}, {lora['target_modules']}; set those, or finetune.recipe: lora")
    peft_config = lora_config({**lora, "train_projector": False})
    peft_config.modules_to_save = ["audio_encoder", "projector"]
    model = get_peft_model(model, peft_config)
    inner = model.base_model.model
    with torch.no_grad():
        for target, (a, b) in ltu_lora.items():
            layer = inner.get_submodule(target.removesuffix(".weight"))
            layer.lora_A["default"].weight.copy_(a)
            layer.lora_B["default"].weight.copy_(b)
        for p in model.parameters():
            if p.requires_grad:
                p.data = p.data.float()
    llm = AudioLLM(model, AudioProcessor(tokenizer, c.audio_tokens), device, "ltu")
    return llm, [p for p in llm.model.parameters() if p.requires_grad]
