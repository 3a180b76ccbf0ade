"""Tiny random checkpoints of transformers' own audio LLM classes, saved like a hub checkpoint (model +
processor files) so the `hf` backend loads them exactly as it loads the real thing, offline.

    path = build_tiny(name, tmp_dir)      # name in TINY: qwen2_audio, audioflamingo3, voxtral

Each has the real model class (tiny sizes), the real feature extractor (WhisperFeatureExtractor, its
class defaults but 16 mel bins), a word-level tokenizer fitted on a few sentences with the model's
special tokens, and the model's chat template:
- Qwen2-Audio: `Qwen2AudioProcessor.default_chat_template` (transformers 5.25). QWEN2_AUDIO_HUB_TEMPLATE is
  the one saved with Qwen/Qwen2-Audio-7B-Instruct by older transformers (its hub chat_template.json, commit
  7dd1230 "add chat template"): it finds audio items by `'audio' in content` only.
- Audio Flamingo 3: written to give the prompt transformers' own test expects
  (tests/models/audioflamingo3/test_processing_audioflamingo3.py, test_chat_template): a default
  system turn, then every `<sound>` of the user turn before its text.
- Voxtral: no jinja template; its processor tokenizes chats with mistral-common, so the checkpoint holds
  a tiny tekken.json (byte-level vocabulary, Voxtral's special-token ranks, its 30 s audio chunks) in
  place of a tokenizer. Built only where mistral-common is installed.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import torch

WORDS = ("You you are Audio a helpful assistant . system user assistant audio 1 2 3 : what is this sound ? "
         "is it a dog or cat bird yes no the of and hear sound sounds which word means same kind")
N_MELS = 16

# huggingface.co/Qwen/Qwen2-Audio-7B-Instruct, chat_template.json (commit 7dd1230): an audio item is one with an `audio` or
# `audio_url` key (`message['type']` is never set), not one of type "audio"
QWEN2_AUDIO_HUB_TEMPLATE = (
    "{% set audio_count = namespace(value=0) %}{% for message in messages %}{% if loop.first and message['role'] != "
    "'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}"
    "\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}{% for content in "
    "message['content'] %}{% if 'audio' in content or 'audio_url' in content or message['type'] == 'audio' %}{% set "
    "audio_count.value = audio_count.value + 1 %}Audio {{ audio_count.value }}: <|audio_bos|><|AUDIO|><|audio_eos|>\n"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

AF3_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'audio' %}<sound>{% endif %}{% endfor %}"
    "{% for content in message['content'] %}{% if content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}"
    "{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _tokenizer(special: list[str], eos: str, pad: str, **extra):
    """Word-level tokenizer: special tokens first (ids 0..), then the words of WORDS."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(special + ["<unk>"])}
    for w in WORDS.split() + ["\n"]:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split("\n", "isolated"),
                                                 pre_tokenizers.Split(" ", "removed"),
                                                 pre_tokenizers.Punctuation("isolated")])
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, pad_token=pad, unk_token="<unk>",
                                   additional_special_tokens=special, **extra)


def _whisper():
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(feature_size=N_MELS)


def _text_config(tokenizer, **kw) -> dict:
    return dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, **kw)


def _audio_config(**kw) -> dict:
    return dict(num_mel_bins=N_MELS, d_model=32, encoder_layers=1, encoder_attention_heads=2,
                encoder_ffn_dim=64, max_source_positions=1500, **kw)


def qwen2_audio(out: Path) -> None:
    from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor

    tok = _tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>"],
                     eos="<|im_end|>", pad="<|endoftext|>")
    config = Qwen2AudioConfig(audio_config=_audio_config(model_type="qwen2_audio_encoder"),
                              text_config=_text_config(tok, model_type="qwen2"),
                              audio_token_index=tok.convert_tokens_to_ids("<|AUDIO|>"))
    torch.manual_seed(0)
    Qwen2AudioForConditionalGeneration(config).save_pretrained(out)
    proc = Qwen2AudioProcessor(feature_extractor=_whisper(), tokenizer=tok)  # its default (hub) chat template
    proc.save_pretrained(out)


def audioflamingo3(out: Path) -> None:
    from transformers import AudioFlamingo3Config, AudioFlamingo3ForConditionalGeneration, AudioFlamingo3Processor

    tok = _tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<sound>"], eos="<|im_end|>", pad="<|endoftext|>")
    audio = _audio_config()
    audio = dict(num_mel_bins=N_MELS, hidden_size=audio["d_model"], num_hidden_layers=1, num_attention_heads=2,
                 intermediate_size=64, max_source_positions=1500)
    config = AudioFlamingo3Config(audio_config=audio, text_config=_text_config(tok, model_type="qwen2"),
                                  audio_token_id=tok.convert_tokens_to_ids("<sound>"))
    torch.manual_seed(0)
    AudioFlamingo3ForConditionalGeneration(config).save_pretrained(out)
    AudioFlamingo3Processor(feature_extractor=_whisper(), tokenizer=tok, chat_template=AF3_TEMPLATE).save_pretrained(out)


# Voxtral's special tokens at the ranks its hub tekken.json gives them (VoxtralProcessor hard-codes [AUDIO] = 24)
VOXTRAL_SPECIAL = {0: "<unk>", 1: "<s>", 2: "</s>", 3: "[INST]", 4: "[/INST]", 5: "[AVAILABLE_TOOLS]",
                   6: "[/AVAILABLE_TOOLS]", 7: "[TOOL_RESULTS]", 8: "[/TOOL_RESULTS]", 9: "[TOOL_CALLS]", 10: "[IMG]",
                   11: "<pad>", 12: "[IMG_BREAK]", 13: "[IMG_END]", 14: "[PREFIX]", 15: "[MIDDLE]", 16: "[SUFFIX]",
                   17: "[SYSTEM_PROMPT]", 18: "[/SYSTEM_PROMPT]", 19: "[TOOL_CONTENT]", 24: "[AUDIO]",
                   25: "[BEGIN_AUDIO]", 32: "[ARGS]", 33: "[CALL_ID]", 34: "[TRANSCRIBE]"}
N_VOXTRAL_SPECIAL = 40


def _tekken(path: Path) -> None:
    """A minimal tekken.json mistral-common loads: the 256 single bytes as vocabulary (no merges: every
    text is bytes), the special tokens (fillers <SPECIAL_i> between Voxtral's), and Voxtral's audio
    settings (16 kHz, 12.5 audio tokens per second, clips padded to 30 s) with N_MELS bins."""
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    special = [{"rank": i, "token_str": VOXTRAL_SPECIAL.get(i, f"<SPECIAL_{i}>"), "is_control": True}
               for i in range(N_VOXTRAL_SPECIAL)]
    vocab = [{"rank": i, "token_bytes": b64(bytes([i])), "token_str": bytes([i]).decode("latin-1")}
             for i in range(256)]
    config = {"pattern": r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s+",
              "num_vocab_tokens": len(vocab), "default_vocab_size": len(vocab) + N_VOXTRAL_SPECIAL,
              "default_num_special_tokens": N_VOXTRAL_SPECIAL, "version": "v11"}
    audio = {"sampling_rate": 16000, "frame_rate": 12.5, "chunk_length_s": 30.0,
             "audio_encoding_config": {"num_mel_bins": N_MELS, "hop_length": 160, "window_size": 400}}
    path.write_text(json.dumps({"config": config, "vocab": vocab, "special_tokens": special, "audio": audio}))


def voxtral(out: Path) -> None:
    from transformers import MistralCommonBackend, VoxtralConfig, VoxtralForConditionalGeneration, VoxtralProcessor

    _tekken(out / "tekken.json")
    tok = MistralCommonBackend(tokenizer_path=out / "tekken.json")
    audio = _audio_config()
    # the projector takes 4 encoder frames at once: intermediate_size = 4 x hidden_size, as in the real model
    audio = dict(num_mel_bins=N_MELS, hidden_size=audio["d_model"], intermediate_size=4 * audio["d_model"],
                 num_hidden_layers=1, num_attention_heads=2, max_source_positions=1500)
    config = VoxtralConfig(audio_config=audio, text_config=_text_config(tok, model_type="llama", head_dim=8),
                           audio_token_id=tok.convert_tokens_to_ids("[AUDIO]"))
    torch.manual_seed(0)
    VoxtralForConditionalGeneration(config).save_pretrained(out)
    VoxtralProcessor(feature_extractor=_whisper(), tokenizer=tok).save_pretrained(out)


TINY = {"qwen2_audio": qwen2_audio, "audioflamingo3": audioflamingo3, "voxtral": voxtral}


def installed() -> tuple[str, ...]:
    """The names in TINY that can be built here: Voxtral only where mistral-common (its tokenizer) is installed."""
    from importlib.util import find_spec

    return tuple(name for name in TINY if name != "voxtral" or find_spec("mistral_common"))


def build_tiny(name: str, root) -> Path:
    """Save the tiny `name` checkpoint (model + processor) under root/name; returns that folder."""
    out = Path(root) / name
    out.mkdir(parents=True, exist_ok=True)
    TINY[name](out)
    return out
