"""Real-size models on the `meta` device: no weights, no memory, seconds on a CPU.

    model = ltu_on_meta()                     # LTU: CAV-MAE audio branch + LLaMA-7B, LTUForConditionalGeneration
    model = hf_on_meta(qwen2_audio_config())  # any config the hf backend loads (its own model class)
    parts(model)                              # parameters per part: audio encoder, projector, language model
    lora_on_meta(model, lora)                 # what finetune's LoRA wraps: module names, trainable parameters

What bench/gpu_check.py --plan counts from, and what tests/test_real_size.py checks against the published sizes.
A forward pass on meta runs under `MetaWithIntegers` (below): the models read a few integer tensors' values
(audio-token counts, which audio frames are real), which meta tensors do not hold.
"""
from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves, tree_map_only
from torch.utils.weak import WeakTensorKeyDictionary

# LLaMA-7B (Touvron et al. 2023; the config.json of LTU's vicuna_ltu / any HF LLaMA-7B): 6,738,415,616 parameters
LLAMA_7B = {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
            "num_key_value_heads": 32, "vocab_size": 32000, "max_position_embeddings": 2048, "rms_norm_eps": 1e-6,
            "tie_word_embeddings": False, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}

# Qwen/Qwen2-Audio-7B(-Instruct) config.json, as published (both checkpoints share it): the Whisper-large-v3
# encoder (32 layers, d_model 1280) and a Qwen-7B language model (vocab 156032). Sizes only: ids as published.
QWEN2_AUDIO_7B = {
    "audio_config": {"model_type": "qwen2_audio_encoder", "num_mel_bins": 128, "encoder_layers": 32,
                     "encoder_attention_heads": 20, "encoder_ffn_dim": 5120, "d_model": 1280,
                     "activation_function": "gelu", "scale_embedding": False, "max_source_positions": 1500},
    "text_config": {"model_type": "qwen2", "vocab_size": 156032, "hidden_size": 4096, "intermediate_size": 11008,
                    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32,
                    "max_position_embeddings": 8192, "rope_theta": 10000, "rms_norm_eps": 1e-5,
                    "sliding_window": 32768, "bos_token_id": 151643, "eos_token_id": 151645},
    "audio_token_index": 151646,
}
WHISPER_V3_EXTRACTOR = {"feature_size": 128, "sampling_rate": 16000, "hop_length": 160, "chunk_length": 30,
                        "n_fft": 400}  # Qwen2-Audio's preprocessor_config.json (nb_max_frames 3000)


def qwen2_audio_config(**overrides):
    """transformers' Qwen2AudioConfig at Qwen2-Audio-7B's published sizes (`overrides`: e.g. audio_token_index)."""
    from transformers import Qwen2AudioConfig

    return Qwen2AudioConfig(**{**QWEN2_AUDIO_7B, **overrides})


def ltu_on_meta(text: dict | None = None, architecture: dict | None = None, **config):
    """LTU at its release's sizes (LTUConfig's defaults + LLaMA-7B), parameters on meta. `config`: more LTUConfig
    keys (audio_token_id, attn_implementation, ...)."""
    from transformers import LlamaConfig

    from shard.models.ltu import LTUConfig, LTUForConditionalGeneration

    cfg = LTUConfig(text_config=LlamaConfig(**(text or LLAMA_7B)), **(architecture or {}), **config)
    with torch.device("meta"):
        return LTUForConditionalGeneration(cfg)


def hf_on_meta(config):
    """The class the hf backend loads for `config` (shard.models.hf), parameters on meta."""
    from shard.models.hf import _model_class

    with torch.device("meta"):
        model = _model_class(config)(config)
    return getattr(model, "thinker", model)  # as load_hf: Qwen2.5-Omni's thinker writes the text


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def parts(model: torch.nn.Module) -> dict[str, int]:
    """Parameters of the audio encoder, the projector and the language model (embeddings and head included),
    found by the names both backends use; `total` counts every parameter once."""
    core = getattr(model, "model", model)  # transformers' *ForConditionalGeneration keeps its parts under .model
    audio = core.audio_encoder if hasattr(core, "audio_encoder") else core.audio_tower  # ltu's, transformers'
    projector = core.projector if hasattr(core, "projector") else core.multi_modal_projector
    total = count(model)
    out = {"audio_encoder": count(audio), "projector": count(projector)}
    out["language_model"] = total - out["audio_encoder"] - out["projector"]
    return {**out, "total": total}


def lora_on_meta(model: torch.nn.Module, lora: dict, language_model: str = r".*language_model.*",
                 projector: str = "projector") -> tuple[torch.nn.Module, list[str], int]:
    """`model` with finetune's LoRA (shard.models.finetune.lora_config, the backend's module regex) on meta:
    (the PEFT model, the wrapped module names, trainable parameters)."""
    from peft import get_peft_model
    from peft.tuners.lora import LoraLayer

    from shard.models.finetune import lora_config

    with torch.device("meta"):
        peft = get_peft_model(model, lora_config(lora, language_model, projector))
    wrapped = [n for n, m in peft.named_modules() if isinstance(m, LoraLayer)]
    return peft, wrapped, sum(p.numel() for p in peft.parameters() if p.requires_grad)


INTEGERS = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


class MetaWithIntegers(TorchDispatchMode):
    """Runs a model on meta with every integer / bool tensor also computed for real, on CPU, beside it.

    Meta tensors have shapes and no values, so the few places that read values fail on meta: our check that the
    audio-token positions match the clips (`int(mask.sum())`), transformers' check whether a padding mask can be
    skipped, Qwen2-Audio's choice of the real audio frames (a boolean index). Those are all integer bookkeeping of
    small tensors (token ids, masks, lengths): here each one keeps its real twin, so `.item()` and boolean indexing
    answer from real values while the float math (weights, activations) stays on meta. FakeTensorMode was tried
    first: it turns such values into unbacked symbols and stops at the first `if` on one (Qwen2-Audio's
    `legacy_processing` test), so it cannot run these forwards.
    """

    def __init__(self):
        super().__init__()
        self.real = WeakTensorKeyDictionary()  # meta tensor -> its values on CPU

    def _with_real(self, args, kwargs, integers_only: bool):
        def real(t):
            return self.real.get(t, t) if t.is_meta and (not integers_only or t.dtype in INTEGERS) else t
        return tree_map_only(torch.Tensor, real, (args, kwargs))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.ops.aten._local_scalar_dense.default:  # .item(), int(), bool()
            if args[0] not in self.real:
                raise RuntimeError(f"a value of a meta {args[0].dtype} tensor was read: only integer tensors that "
                                   "come from real inputs have values here")
            return self.real[args[0]].item()
        try:
            out = func(*args, **kwargs)
        except (NotImplementedError, RuntimeError):  # a data-dependent shape (a boolean index): the real indices
            args, kwargs = self._with_real(args, kwargs, integers_only=True)
            return func(*args, **kwargs)
        metas = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor) and t.is_meta]
        new = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor) and t.is_meta]
        if new and all(t.dtype in INTEGERS for t in new) and all(t in self.real for t in metas):
            r_args, r_kwargs = self._with_real(args, kwargs, integers_only=False)
            if "device" in r_kwargs:
                r_kwargs["device"] = torch.device("cpu")
            for m, r in zip(tree_leaves(out), tree_leaves(func(*r_args, **r_kwargs))):
                if isinstance(m, torch.Tensor) and m.is_meta:
                    self.real[m] = r
        return out
