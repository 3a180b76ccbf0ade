"""mini_ltu: LTU's architecture at toy scale, trained from scratch inside the workflow.

    log-mel (n_mels x n_frames) -> AudioEncoder (conv stem + self-attention) -> `audio_tokens` vectors
      -> projector (Linear) -> masked_scatter into the `<audio>` positions of the text embeddings
      -> language_model (transformers' LlamaForCausalLM)

The audio encoder's attention deliberately names its layers q_proj / v_proj like the language
model's: LoRA targets must be limited to `language_model` by a regex, and the tests check that.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn
from transformers import (GenerationMixin, LlamaConfig, LlamaForCausalLM, PretrainedConfig, PreTrainedModel,
                          PreTrainedTokenizerFast)

from shard.common import ShardError
from shard.prompts.templates import AUDIO
from shard.models.interface import AudioLLM, with_adapter
from shard.models.processor import AudioProcessor, build_tokenizer


class MiniLTUConfig(PretrainedConfig):
    model_type = "mini_ltu"
    sub_configs = {"text_config": LlamaConfig}

    def __init__(self, n_mels: int = 64, n_frames: int = 101, audio_tokens: int = 8, audio_hidden: int = 128,
                 audio_heads: int = 4, audio_token_id: int = 4, feature_mean: float = 0.0, feature_std: float = 1.0,
                 text_config: dict | LlamaConfig | None = None, **kwargs):
        self.n_mels, self.n_frames, self.audio_tokens = n_mels, n_frames, audio_tokens
        self.audio_hidden, self.audio_heads, self.audio_token_id = audio_hidden, audio_heads, audio_token_id
        # fixed input normalisation measured on the training clips (LTU: (x + 5.081) / 4.4849)
        self.feature_mean, self.feature_std = feature_mean, feature_std
        if isinstance(text_config, dict):
            text_config = LlamaConfig(**text_config)
        self.text_config = text_config if text_config is not None else LlamaConfig()
        super().__init__(**kwargs)


class AudioSelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = (p(x).view(b, t, self.heads, d // self.heads).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        out = nn.functional.scaled_dot_product_attention(q, k, v)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, d))


class AudioEncoder(nn.Module):
    """(clips, n_mels, n_frames) -> (clips, audio_tokens, audio_hidden)."""

    def __init__(self, config: MiniLTUConfig):
        super().__init__()
        d = config.audio_hidden
        self.stem = nn.Sequential(  # mel bins as channels, convolved over time, downsampled x4
            nn.Conv1d(config.n_mels, d, 3, padding=1), nn.GELU(),
            nn.Conv1d(d, d, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv1d(d, d, 3, stride=2, padding=1), nn.GELU(),
        )
        self.pool = nn.AdaptiveAvgPool1d(config.audio_tokens)
        self.pos = nn.Parameter(torch.zeros(config.audio_tokens, d))
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = AudioSelfAttention(d, config.audio_heads)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.mean, self.std = config.feature_mean, config.feature_std

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = (features - self.mean) / self.std
        x = self.pool(self.stem(x)).transpose(1, 2) + self.pos
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class MiniLTUForConditionalGeneration(PreTrainedModel, GenerationMixin):
    config_class = MiniLTUConfig
    base_model_prefix = "mini_ltu"
    _supports_sdpa = True
    _supports_attention_backend = True
    _no_split_modules = ["LlamaDecoderLayer"]

    def __init__(self, config: MiniLTUConfig):
        super().__init__(config)
        self.audio_encoder = AudioEncoder(config)
        self.projector = nn.Linear(config.audio_hidden, config.text_config.hidden_size)
        self.language_model = LlamaForCausalLM(config.text_config)
        self.post_init()

    def _init_weights(self, module):
        # applied to every submodule, the language model's too: GPT-2 style N(0, 0.02)
        if isinstance(module, (nn.Linear, nn.Conv1d)):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def get_input_embeddings(self):
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.language_model.set_input_embeddings(value)

    def get_audio_embeddings(self, audio_features: torch.Tensor) -> torch.Tensor:
        """(clips, n_mels, n_frames) -> (clips, audio_tokens, hidden): what fills the `<audio>` slots."""
        return self.projector(self.audio_encoder(audio_features))

    def merge_audio(self, input_ids: torch.Tensor, audio_features: torch.Tensor | None) -> torch.Tensor:
        """Text embeddings with the projected audio scattered into the `<audio>` token positions."""
        audio_positions = input_ids == self.config.audio_token_id
        # any in-table id where the audio goes (ltu's <audio> id is past LLaMA's table); overwritten below
        embeds = self.get_input_embeddings()(input_ids.masked_fill(audio_positions, 0))
        n_positions = int(audio_positions.sum())
        n_features = 0 if audio_features is None else audio_features.shape[0] * self.config.audio_tokens
        if n_positions != n_features:
            raise ValueError(f"audio tokens and features do not match: {n_positions} <audio> positions in input_ids "
                             f"but {n_features} audio vectors ({0 if audio_features is None else audio_features.shape[0]} "
                             f"clip(s) x {self.config.audio_tokens} tokens); the processor must expand one "
                             "placeholder per clip")
        if n_features:
            audio = self.get_audio_embeddings(audio_features.to(embeds.device)).to(embeds.dtype)
            embeds = embeds.masked_scatter(audio_positions.unsqueeze(-1).expand_as(embeds), audio)
        return embeds

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, audio_features: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, cache=None, use_cache: bool | None = None, **kwargs):
        embeds = self.merge_audio(input_ids, audio_features)
        return self.language_model(inputs_embeds=embeds, attention_mask=attention_mask, position_ids=position_ids,
                                   labels=labels, cache=cache, use_cache=use_cache, **kwargs)

    def prepare_inputs_for_generation(self, *args, is_first_iteration: bool | None = False, **kwargs):
        """transformers' generate(): the audio is merged in the first forward only; later steps read it from
        the cache (as Llava does with pixel values)."""
        inputs = super().prepare_inputs_for_generation(*args, is_first_iteration=is_first_iteration, **kwargs)
        if not is_first_iteration:
            inputs["audio_features"] = None
        return inputs


def build_mini_ltu(pretrain: dict, *, vocab_size: int, audio_token_id: int, pad_token_id: int, bos_token_id: int,
                   eos_token_id: int, n_mels: int, n_frames: int, feature_mean: float = 0.0,
                   feature_std: float = 1.0) -> MiniLTUForConditionalGeneration:
    """A fresh mini_ltu sized by the config's `pretrain` section."""
    hidden = pretrain["hidden_size"]
    text = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=pretrain.get("mlp_ratio", 4) * hidden,
                       num_hidden_layers=pretrain["layers"], num_attention_heads=pretrain["heads"],
                       num_key_value_heads=pretrain["heads"], max_position_embeddings=512,
                       pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id,
                       tie_word_embeddings=True)
    config = MiniLTUConfig(n_mels=n_mels, n_frames=n_frames, audio_tokens=pretrain["audio_tokens"],
                           audio_hidden=hidden, audio_heads=pretrain["heads"], audio_token_id=audio_token_id,
                           feature_mean=feature_mean, feature_std=feature_std, text_config=text,
                           pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id)
    return MiniLTUForConditionalGeneration(config)


def random_mini_ltu(texts: Sequence[str], pretrain: dict, *, required: Sequence[str] = (), n_mels: int = 64,
                    n_frames: int = 101, seed: int = 0) -> tuple[MiniLTUForConditionalGeneration, PreTrainedTokenizerFast]:
    """An untrained mini_ltu and a tokenizer fitted on `texts` (+ `required` words): for tests and benchmarks.

    `pretrain` sizes it like the config section (hidden_size, layers, heads, audio_tokens; vocab_size, default
    200). Seeds torch's global RNG with `seed` first, so the same arguments give the same weights.
    """
    tokenizer = build_tokenizer(list(texts), pretrain.get("vocab_size", 200), required=required)
    torch.manual_seed(seed)
    model = build_mini_ltu(pretrain, vocab_size=len(tokenizer), audio_token_id=tokenizer.convert_tokens_to_ids(AUDIO),
                           pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                           eos_token_id=tokenizer.eos_token_id, n_mels=n_mels, n_frames=n_frames)
    return model, tokenizer


def load_mini_ltu(model_cfg: dict, base_dir: str, adapter_dir: str | None, device: torch.device) -> AudioLLM:
    """A mini_ltu the pretrain_base rule saved (model + tokenizer), optionally with a LoRA adapter."""
    if not (Path(base_dir) / "config.json").is_file():
        raise ShardError(f"base model directory '{base_dir}' has no config.json; run the pretraining rule first "
                         "or point model.base at a saved mini_ltu")
    model = MiniLTUForConditionalGeneration.from_pretrained(base_dir, local_files_only=True)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(base_dir, local_files_only=True)
    processor = AudioProcessor(tokenizer, model.config.audio_tokens)
    model = with_adapter(model, adapter_dir).eval()
    return AudioLLM(model, processor, device, "mini_ltu")
