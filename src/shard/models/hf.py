"""hf: the audio LLMs transformers ships (Qwen2-Audio, Audio Flamingo 3, ... any model whose processor has an
audio token and an audio chat template; Voxtral, whose tokenizer writes the chat, through its own subclass
of the processor), loaded from a local folder with AutoProcessor and AutoModelForMultimodalLM (or the class
the checkpoint's config names, where the auto class lacks it).

Data flow, the same as for mini_ltu:

    features rule   the model's own feature extractor, once per clip, UNPADDED (`hf_features`, front end `hf`)
    HFAudioProcessor(texts with <audio>, per-prompt clip features, fmt[, answers])
        -> the model's chat template (each <audio> an audio content item: at its place for `interleaved`,
           all first for `original`; where the template moves every audio item first, as Audio Flamingo 3's
           does, `interleaved` writes the template's own text for an audio item at each <audio> itself)
        -> its audio token expanded to each clip's length by the model's own processor (its public call,
           fed the cached features: `expand_audio`) -> the model's keyword arguments
    AudioLLM        loss / option scoring / generate(), unchanged
"""
from __future__ import annotations

import functools
import itertools
import logging
import math
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from shard.common import ShardError
from shard.prompts.templates import AUDIO
from shard.models.interface import AudioLLM, with_adapter
from shard.models.processor import check_batch, check_prompt, labelled_row, pad_rows, position_ids_from_mask

log = logging.getLogger("shard")
LANGUAGE_MODEL = r".*language_model.*"  # every supported model keeps its LLM under `model.language_model`
PROJECTOR = "multi_modal_projector"
_SENTINEL = "SHARD_ANSWER_SENTINEL"
# An audio content item. Chat templates test for one in two ways: `content['type'] == 'audio'` (transformers'
# own templates now) and `'audio' in content` (Qwen2-Audio-7B-Instruct's hub template, saved by older
# transformers); this item carries both keys. The value is never read: templates are rendered untokenized.
AUDIO_ITEM = {"type": "audio", "audio": "clip"}


# ---------------------------------------------------------------- front end `hf`
def load_processor(model_dir: str):
    """The model's processor from its own files (processor_config.json or preprocessor_config.json; never the Hub)."""
    from transformers import AutoProcessor

    if not any((Path(model_dir) / f).is_file() for f in ("processor_config.json", "preprocessor_config.json")):
        raise ShardError(f"model.base '{model_dir}' has no processor_config.json or preprocessor_config.json; point "
                         "it at a local copy of the model saved with its processor (processor.save_pretrained)")
    return AutoProcessor.from_pretrained(model_dir, local_files_only=True)


@functools.lru_cache(maxsize=4)
def feature_extractor(model_dir: str):
    """The model's own feature extractor (its processor's)."""
    fe = getattr(load_processor(model_dir), "feature_extractor", None)
    if fe is None:
        raise ShardError(f"front end 'hf': the processor in '{model_dir}' has no feature extractor")
    return fe


def hf_features(batch: np.ndarray, params: dict, sr: int) -> np.ndarray:
    """Front end `hf`: (B, samples) -> (B, bins, frames) by the extractor of `params['model']`, not padded to its
    window (a Whisper extractor pads every clip to 30 s: 3000 frames). The processor pads per batch.

    The clip is followed by n_fft zeros before the STFT and cut to the frames the extractor's attention mask
    counts (ceil(samples / hop)): those frames then equal the ones of the extractor's own padded call.
    """
    if "model" not in params:
        raise ShardError("front end 'hf' needs params.model (the model folder); the features rule passes model.base")
    fe = feature_extractor(str(params["model"]))
    if fe.sampling_rate != sr:
        raise ShardError(f"front end 'hf': {params['model']} expects {fe.sampling_rate} Hz audio but clips are {sr} Hz; "
                         f"set clips.sample_rate to {fe.sampling_rate}")
    hop, tail = getattr(fe, "hop_length", 1), getattr(fe, "n_fft", 0)
    padded = np.pad(np.asarray(batch, np.float32), ((0, 0), (0, tail)))
    out = fe(list(padded), sampling_rate=sr, padding="longest", truncation=False, return_tensors="np")
    return np.asarray(out["input_features"][..., :math.ceil(batch.shape[1] / hop)], dtype=np.float32)


def pad_value(fe, clip: np.ndarray) -> float:
    """What the extractor writes where it pads a clip. Whisper: the zero waveform's log-mel, floored 8 (log10)
    below the clip's maximum and scaled by (x + 4) / 4, i.e. max(clip.max() - 2, -1.5); others: padding_value."""
    from transformers import WhisperFeatureExtractor

    if isinstance(fe, WhisperFeatureExtractor):
        return max(float(clip.max()) - 2.0, -1.5)
    return float(getattr(fe, "padding_value", 0.0))


class _CachedExtractor:
    """Stands in for the model's feature extractor while its processor expands the audio tokens: returns the
    cached, batch-padded features instead of computing them from the (dummy) waveforms it is handed."""

    def __init__(self, real, features: torch.Tensor, mask: torch.Tensor):
        self.real, self.features, self.mask = real, features, mask

    def __getattr__(self, name):
        return getattr(self.real, name)

    def fetch_audio(self, audio, **kwargs):
        return audio

    def __call__(self, audio, **kwargs):
        from transformers import BatchFeature

        if len(audio) != len(self.features):
            raise ShardError(f"the processor split {len(self.features)} clip(s) into {len(audio)} windows; clips "
                             f"longer than the model's window ({getattr(self.real, 'chunk_length', '?')} s) are not "
                             "supported: shorten clips.seconds")
        return BatchFeature({"input_features": self.features, "attention_mask": self.mask})


def expand_audio(processor, feats: torch.Tensor, mask: torch.Tensor, lengths: list[int]) -> tuple[dict, list[str]]:
    """The model's audio inputs and each clip's audio-token text, from features computed beforehand.

    transformers' processors compute features themselves and take none: this calls the processor's public
    `processor(text=[audio token per clip], audio=waveforms, return_text_replacement_offsets=True)` on stand-in
    waveforms of each clip's length, with `_CachedExtractor` (handing back `feats`) set as the processor's
    `feature_extractor` / `audio_processor` for the call. That the processor reads its extractor from those
    attributes is the one thing relied on beyond the public API; tests/test_hf_backend.py checks it."""
    extractor = processor.feature_extractor
    hop = getattr(extractor, "hop_length", 1)
    waves = [np.zeros(n * hop, np.float32) for n in lengths]  # only their lengths are read
    names = [n for n in ("feature_extractor", "audio_processor") if n in vars(processor)]
    saved = {n: getattr(processor, n) for n in names}
    try:
        for n in names:
            setattr(processor, n, _CachedExtractor(extractor, feats, mask))
        out = processor(text=[processor.audio_token] * len(waves), audio=waves, return_text_replacement_offsets=True)
    finally:
        for n, v in saved.items():
            setattr(processor, n, v)
    replacements = [r["replacement"] for row in out["text_replacement_offsets"] for r in row]
    text_keys = {*processor.tokenizer.model_input_names, "text_replacement_offsets"}
    return {k: torch.as_tensor(v) for k, v in out.items() if k not in text_keys}, replacements


# ---------------------------------------------------------------- the processor
class HFAudioProcessor:
    """Same call as AudioProcessor; builds each prompt with the model's chat template and returns the model's
    own keyword arguments (input_ids, attention_mask, [position_ids], its audio inputs, [labels])."""

    needs_chat_template = True  # False where a subclass renders chats without the processor's template

    def __init__(self, processor, name: str, position_ids: bool = True, train_on_prompt: bool = False):
        self.processor, self.name = processor, name
        self.tokenizer = processor.tokenizer
        self.extractor = getattr(processor, "feature_extractor", None)
        self.audio_token = getattr(processor, "audio_token", None)
        has_template = getattr(processor, "chat_template", None) or not self.needs_chat_template
        if self.audio_token is None or self.extractor is None or not has_template:
            raise ShardError(f"model.base '{name}': its processor ({type(processor).__name__}) has no audio token, "
                             "feature extractor or chat template; the hf backend needs an audio chat model")
        self.audio_token_id = self.tokenizer.convert_tokens_to_ids(self.audio_token)
        self.position_ids, self.train_on_prompt = position_ids, train_on_prompt
        self.eos_id = self._end_of_turn()
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_id
        self.bos_id = self.tokenizer.bos_token_id

    def _render(self, content: list[dict], answer: str | None = None) -> str:
        messages = [{"role": "user", "content": content}]
        if answer is not None:
            messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
        return self.processor.apply_chat_template([messages], tokenize=False,
                                                  add_generation_prompt=answer is None)[0]

    def _end_of_turn(self) -> int:
        """The token the template writes after an assistant answer (<|im_end|>, </s>, ...): what ends an
        answer in training and stops generation."""
        rendered = self._render([{"type": "text", "text": "x"}], _SENTINEL)
        after = self._encode(rendered.split(_SENTINEL, 1)[1].strip())
        if after:
            return after[0]
        if self.tokenizer.eos_token_id is None:
            raise ShardError(f"model.base '{self.name}': its chat template ends an answer with nothing and its "
                             "tokenizer has no eos_token; add one to tokenizer_config.json")
        return self.tokenizer.eos_token_id

    def _encode(self, text: str) -> list[int]:
        """A rendered prompt's ids (the special tokens the template wrote are in the tokenizer's vocabulary)."""
        return self.tokenizer.encode(text, add_special_tokens=False)

    # ------------------------------------------------------------------ one prompt
    def encode_answer(self, answer: str) -> list[int]:
        return self.tokenizer.encode(answer, add_special_tokens=False) if answer else []

    def render_prompt(self, text: str, n_clips: int, fmt: str, name: str = "prompt") -> str:
        """The chat-template prompt (ending in the assistant turn's header), one audio token per clip."""
        check_prompt(text, n_clips, fmt, name)
        pieces = text.split(AUDIO)
        if fmt == "original":
            content = [AUDIO_ITEM] * n_clips + [{"type": "text", "text": text.replace(AUDIO, "").strip()}]
        else:
            content = [{"type": "text", "text": pieces[0]}] if pieces[0] else []
            for piece in pieces[1:]:
                content += [AUDIO_ITEM] + ([{"type": "text", "text": piece}] if piece else [])
            if not self._keeps_layout(tuple(c is AUDIO_ITEM for c in content)):
                # the template would move the audio: write what it writes for an audio item at each <audio>
                content = [{"type": "text", "text": self._audio_item_text.join(pieces)}]
        rendered = self._render(content)
        if rendered.count(self.audio_token) != n_clips:
            raise ShardError(f"model.base '{self.name}': its chat template wrote {rendered.count(self.audio_token)} "
                             f"{self.audio_token} for {n_clips} audio item(s) in {name}")
        return rendered

    @functools.lru_cache(maxsize=64)
    def _keeps_layout(self, layout: tuple[bool, ...]) -> bool:
        """Whether the template keeps each text item between the audio items it sits between in the message
        (checked with marker texts). Audio Flamingo 3's puts every audio item first."""
        content = [AUDIO_ITEM if is_audio else {"type": "text", "text": f"SHARDTEXT{i}"}
                   for i, is_audio in enumerate(layout)]
        segments = self._render(content).split(self.audio_token)
        n_audio_before = itertools.accumulate(layout, initial=0)
        return all(is_audio or f"SHARDTEXT{i}" in segments[k]
                   for i, (is_audio, k) in enumerate(zip(layout, n_audio_before)))

    @functools.cached_property
    def _audio_item_text(self) -> str:
        """What the template writes for one audio item (Audio Flamingo 3: `<sound>`): the difference between a
        message of an audio item and a text and one of the text alone."""
        marker = "SHARDTEXT"
        text_only = self._render([{"type": "text", "text": marker}])
        with_audio = self._render([AUDIO_ITEM, {"type": "text", "text": marker}])
        prefix = text_only[:text_only.index(marker)]
        item = with_audio[len(prefix):with_audio.index(marker)]
        if not with_audio.startswith(prefix) or item.count(self.audio_token) != 1:
            raise ShardError(f"model.base '{self.name}': its chat template moves audio away from where the prompt "
                             f"puts it and writes no single {self.audio_token} per audio item before a message's "
                             "text, so the interleaved format cannot be built for this model")
        return item

    # ------------------------------------------------------------------ the audio inputs
    def _audio(self, clips: list[np.ndarray]) -> tuple[dict, list[str]]:
        """Pad the cached clips like the extractor would and let the model's processor count their tokens."""
        if not clips:
            return {}, []
        lengths = [c.shape[-1] for c in clips]
        width = getattr(self.extractor, "nb_max_frames", None) or max(lengths)
        if max(lengths) > width:
            raise ShardError(f"a clip has {max(lengths)} feature frames but {self.name} takes at most {width} "
                             "(its 30 s window); shorten clips.seconds")
        feats = np.stack([np.pad(c, ((0, 0), (0, width - c.shape[-1])), constant_values=pad_value(self.extractor, c))
                          for c in clips])
        mask = (np.arange(width)[None, :] < np.array(lengths)[:, None]).astype(np.int64)
        return self._expand(torch.from_numpy(feats), torch.from_numpy(mask), lengths)

    def _expand(self, feats: torch.Tensor, mask: torch.Tensor, lengths: list[int]) -> tuple[dict, list[str]]:
        """The model's audio inputs and each clip's audio-token text, by its own processor."""
        return expand_audio(self.processor, feats, mask, lengths)

    # ------------------------------------------------------------------ a batch
    def __call__(self, texts: Sequence[str], features: Sequence[Sequence[np.ndarray]], fmt: str,
                 answers: Sequence[str] | None = None, padding_side: str = "left",
                 names: Sequence[str] | None = None, add_eos: bool = True) -> dict[str, torch.Tensor]:
        check_batch(texts, features, answers, padding_side)
        clips = [np.asarray(f, dtype=np.float32) for feats in features for f in feats]
        audio_inputs, replacements = self._audio(clips)
        rows, targets, k = [], [], 0
        for i, (text, feats) in enumerate(zip(texts, features)):
            name = names[i] if names is not None else f"prompt {i}"
            segments = self.render_prompt(text, len(feats), fmt, name).split(self.audio_token)
            expanded = segments[0]
            for seg in segments[1:]:
                expanded += replacements[k] + seg
                k += 1
            answer = None if answers is None else self.encode_answer(answers[i]) + ([self.eos_id] if add_eos else [])
            ids, target = labelled_row(self._encode(expanded), answer, self.train_on_prompt, self.audio_token_id)
            rows.append(ids)
            targets.append(target)
        input_ids, labels, attention_mask = pad_rows(rows, targets, self.pad_id, padding_side)
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, **audio_inputs}
        if self.position_ids:
            batch["position_ids"] = position_ids_from_mask(attention_mask)
        if answers is not None:
            batch["labels"] = labels
        return batch


@functools.cache
def _standin_wav() -> str:
    """0.1 s of silence as base64 WAV: an audio content item mistral-common accepts (it pads it to 30 s)."""
    import base64
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.zeros(1600, np.float32), 16000, format="WAV")
    return base64.b64encode(buf.getvalue()).decode()


class VoxtralAudioProcessor(HFAudioProcessor):
    """Voxtral: no chat template; its tokenizer (mistral-common) writes the chat itself, each audio item as
    [BEGIN_AUDIO] + one [AUDIO] per 80 ms of the clip padded to 30 s, and takes special tokens only as ids,
    never from text. So the generic steps get: mistral-common's own rendering with each [AUDIO] run cut to
    one token per item, an encoder that reads the special tokens in it, and the audio inputs VoxtralProcessor
    builds (each clip padded to one 30 s window, no mask) with the token counts mistral-common writes."""

    needs_chat_template = False

    def _render(self, content: list[dict], answer: str | None = None) -> str:
        if answer is not None:
            raise NotImplementedError("only prompts are rendered: mistral-common ends every answer with </s>")
        content = [{"type": "audio", "base64": _standin_wav()} if c["type"] == "audio" else c for c in content]
        ids = self.tokenizer.apply_chat_template([{"role": "user", "content": content}], return_dict=False)
        text = self.tokenizer.decode(ids, skip_special_tokens=False)
        return re.sub(f"(?:{re.escape(self.audio_token)})+", self.audio_token, text)

    def _end_of_turn(self) -> int:
        """mistral-common ends every assistant turn with </s>."""
        return self.tokenizer.eos_token_id

    @functools.cached_property
    def _special(self) -> re.Pattern:
        """Splits text at special tokens (longest first: none is cut short by one it starts with)."""
        tokens = sorted(self.tokenizer.all_special_tokens, key=len, reverse=True)
        return re.compile("(" + "|".join(map(re.escape, tokens)) + ")")

    def _encode(self, text: str) -> list[int]:
        """Special tokens by id, the text between them as mistral-common encodes each text item."""
        specials = set(self.tokenizer.all_special_tokens)
        ids = []
        for piece in filter(None, self._special.split(text)):
            ids += [self.tokenizer.convert_tokens_to_ids(piece)] if piece in specials else super()._encode(piece)
        return ids

    def _expand(self, feats: torch.Tensor, mask: torch.Tensor, lengths: list[int]) -> tuple[dict, list[str]]:
        """The features as VoxtralProcessor passes them (one 30 s window per clip, as `_audio` padded them; its
        encoder takes no mask); each clip's [AUDIO] count from mistral-common, given a stand-in of its length."""
        from mistral_common.tokens.tokenizers.audio import Audio

        encoder = self.tokenizer.tokenizer.instruct_tokenizer.audio_encoder
        sr, hop = self.extractor.sampling_rate, self.extractor.hop_length
        tokens = [encoder.encode_audio(Audio(np.zeros(n * hop, np.float32), sr, "wav")).tokens for n in lengths]
        counts = [t.count(self.audio_token_id) for t in tokens]
        return {"input_features": feats}, [self.audio_token * k for k in counts]


PROCESSORS = {"voxtral": VoxtralAudioProcessor}  # model_type -> its processor, where the generic one cannot serve


# ---------------------------------------------------------------- loading
def _model_class(config):
    """AutoModelForMultimodalLM's class for this config, else the class its `architectures` names."""
    import transformers
    from transformers import MODEL_FOR_MULTIMODAL_LM_MAPPING  # the auto class's own mapping

    if type(config) in MODEL_FOR_MULTIMODAL_LM_MAPPING:
        return MODEL_FOR_MULTIMODAL_LM_MAPPING[type(config)]
    for arch in getattr(config, "architectures", None) or []:
        if hasattr(transformers, arch):
            return getattr(transformers, arch)
    raise ShardError(f"model type '{config.model_type}' is neither an AutoModelForMultimodalLM nor names a "
                     "transformers class in config.json 'architectures'; the hf backend cannot load it")


def load_hf(model_cfg: dict, base_dir: str, adapter_dir: str | None, device: torch.device) -> AudioLLM:
    """An audio chat model and its processor from `base_dir` (local files only), optionally with a LoRA adapter.

    model_cfg: `dtype` (default bfloat16 on GPU, float32 on CPU), `gradient_checkpointing` (default false).
    """
    from transformers import AutoConfig

    base = Path(base_dir)
    if not (base / "config.json").is_file():
        raise ShardError(f"model.base '{base_dir}' has no config.json; point it at a local copy of the model "
                         "(model.save_pretrained and processor.save_pretrained into one folder)")
    config = AutoConfig.from_pretrained(base, local_files_only=True)
    dtype = model_cfg.get("dtype") or ("bfloat16" if device.type == "cuda" else "float32")
    model = _model_class(config).from_pretrained(base, dtype=getattr(torch, dtype), local_files_only=True)
    if hasattr(model, "thinker"):  # Qwen2.5-Omni: the thinker writes the text; the talker (speech) is not used
        model = model.thinker
    processor = load_processor(str(base))
    core = getattr(model, "model", model)
    # multimodal rotary positions (mrope) are computed by the model itself, from the whole prompt
    mrope = hasattr(core, "get_rope_index")
    if model_cfg.get("gradient_checkpointing"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    model = with_adapter(model, adapter_dir).eval()
    processor = PROCESSORS.get(config.model_type, HFAudioProcessor)(processor, str(base_dir), position_ids=not mrope)
    return AudioLLM(model, processor, device, "hf",
                    language_model=LANGUAGE_MODEL, projector=PROJECTOR, shared_cache=not mrope)
