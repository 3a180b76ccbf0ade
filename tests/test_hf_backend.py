"""The `hf` backend on tiny random checkpoints of transformers' real audio LLM classes (tests/hf_tiny.py),
saved to a folder and loaded through load_model like a downloaded model."""
from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
import torch

from shard.dataset.features import featurize
from shard.models.finetune import lora_config
from shard.models import load_model
from shard.models.hf import _model_class, expand_audio, feature_extractor

from .hf_tiny import QWEN2_AUDIO_HUB_TEMPLATE, TINY, build_tiny

MODEL = {"backend": "hf", "device": "cpu", "frontend": "hf"}
LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"], "train_projector": False}


@pytest.fixture(scope="module", params=sorted(TINY))
def tiny(request, tmp_path_factory):
    """(model folder, AudioLLM) per tiny model."""
    if request.param == "voxtral":  # its tokenizer is mistral-common's (the test extra)
        pytest.importorskip("mistral_common")
    path = build_tiny(request.param, tmp_path_factory.mktemp("hf"))
    return path, load_model(MODEL, str(path))


def _clips(path, n, seconds=(1.0, 0.5, 0.8)):
    """n clips of noise of different lengths, through the `hf` front end (as the features rule stores them)."""
    rng = np.random.default_rng(0)
    return [featurize(0.1 * rng.standard_normal(int(16000 * seconds[i % len(seconds)])).astype(np.float32), "hf",
                      {"model": str(path)}) for i in range(n)]


AUDIO_ = "<audio>"


def _feature_mask(batch):
    """The audio inputs' frame mask; None for Voxtral, whose encoder takes whole 30 s windows unmasked."""
    return next((v for k, v in batch.items() if k.endswith("mask") and k != "attention_mask"), None)


def _user_turn(rendered: str) -> str:
    """The rendered prompt from its last user-turn header on: ChatML's `user`, Mistral's `[INST]`."""
    return rendered[max(rendered.rfind("user"), rendered.rfind("[INST]")):]


def _audio_tokens(model: str, frames: int) -> int:
    """Audio tokens a clip of `frames` feature frames gets: Whisper's convolutions and pooling (Qwen2-Audio,
    Audio Flamingo 3); Voxtral: its 30 s window's 1500 encoder frames, 4 per token, whatever the clip's length."""
    return 375 if model == "voxtral" else ((frames - 1) // 2 + 1 - 2) // 2 + 1


def test_features_are_unpadded_and_padded_per_batch_like_the_extractor(tiny):
    path, llm = tiny
    fe = feature_extractor(str(path))
    wave = (0.1 * np.random.default_rng(1).standard_normal(12000)).astype(np.float32)
    stored = featurize(wave, "hf", {"model": str(path)})
    assert stored.shape == (fe.feature_size, math.ceil(12000 / fe.hop_length))  # not 3000 frames
    ref = fe([wave], sampling_rate=16000, return_attention_mask=True, return_tensors="np")
    batch = llm.processor([f"{AUDIO_} what is this sound ?"], [[stored]], "original")
    feats = batch["input_features"].numpy()
    mask = _feature_mask(batch)
    n = stored.shape[1]
    assert feats.shape == ref["input_features"].shape
    assert mask is None or (mask.numpy() == ref["attention_mask"]).all()
    # every frame the mask keeps, and the padding beyond the STFT's reach of the clip, equal the extractor's
    np.testing.assert_allclose(feats[..., :n], ref["input_features"][..., :n], atol=1e-6)
    np.testing.assert_allclose(feats[..., n + 2:], ref["input_features"][..., n + 2:], atol=1e-6)


def test_loss_trains_on_the_answer_only(tiny):
    path, llm = tiny
    clips = _clips(path, 2)
    batch = llm.encode([f"{AUDIO_} what is this sound ?", f"{AUDIO_} is it a dog ?"], [[clips[0]], [clips[1]]],
                       "original", ["a dog", "yes"])
    loss = llm.loss(batch)
    assert torch.isfinite(loss) and loss > 0
    tok = llm.processor.tokenizer
    kept = [tok.decode([t for t in row if t != -100]) for row in batch["labels"].tolist()]
    assert kept == [tok.decode(tok.encode("a dog", add_special_tokens=False) + [llm.processor.eos_id]),
                    tok.decode(tok.encode("yes", add_special_tokens=False) + [llm.processor.eos_id])]


@pytest.mark.parametrize("fmt", ["original", "interleaved"])
def test_shared_cache_scores_equal_one_pass_per_option(tiny, fmt):
    path, llm = tiny
    clips = _clips(path, 3)
    texts = {"original": [f"{AUDIO_} {AUDIO_} which sound is a dog ?", f"{AUDIO_} is it a cat ?", "is a dog a cat ?"],
             "interleaved": [f"is {AUDIO_} or {AUDIO_} a dog ?", f"is {AUDIO_} a cat ?", "is a dog a cat ?"]}[fmt]
    feats = [clips[:2], clips[2:], []]
    options = [["1", "2"], ["yes", "no", "a bird"], ["yes", "no"]]
    shared = llm.option_logprobs(texts, feats, fmt, options, share_cache=True)
    full = llm.option_logprobs(texts, feats, fmt, options, share_cache=False)
    for s_row, f_row in zip(shared, full):
        assert [n for _, n in s_row] == [n for _, n in f_row]
        np.testing.assert_allclose([s for s, _ in s_row], [s for s, _ in f_row], atol=1e-4)


def test_generate_goes_through_transformers_generate(tiny):
    path, llm = tiny
    clips = _clips(path, 1)
    out = llm.generate([f"{AUDIO_} what is this sound ?", "is a dog a cat ?"], [[clips[0]], []], "original", 4)
    assert len(out) == 2 and all(isinstance(o, str) for o in out)
    assert out == llm.generate([f"{AUDIO_} what is this sound ?", "is a dog a cat ?"], [[clips[0]], []],
                               "original", 4)
    assert llm.processor.audio_token not in "".join(out)


def test_lora_step_touches_no_audio_encoder_weight(tiny):
    from peft import get_peft_model

    path, _ = tiny
    # a fresh copy (the fixture's is shared), with gradient checkpointing as a large model would train
    llm = load_model({**MODEL, "gradient_checkpointing": True}, str(path))
    assert llm.model.is_activation_checkpointing
    torch.manual_seed(0)
    llm.model = get_peft_model(llm.model, lora_config(LORA, llm.language_model, llm.projector))
    wrapped = [n for n, m in llm.model.named_modules() if hasattr(m, "lora_A")]
    assert wrapped and all("language_model" in n and "audio_tower" not in n for n in wrapped)
    before = {n: p.detach().clone() for n, p in llm.model.named_parameters()}
    trainable = [p for p in llm.model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(trainable, lr=1.0)
    llm.model.train()
    clips = _clips(path, 1)
    for _ in range(2):  # LoRA B starts at zero: the second step moves A too
        llm.loss(llm.encode([f"{AUDIO_} what is this sound ?"], [[clips[0]]], "original", ["a dog"])).backward()
        opt.step()
        opt.zero_grad()
    changed = {n for n, p in llm.model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n for n in changed)
    assert not any("audio_tower" in n or "projector" in n for n in changed)


def test_formats_put_the_audio_where_they_should(tiny):
    path, llm = tiny
    proc, token = llm.processor, llm.processor.audio_token
    original = proc.render_prompt(f"{AUDIO_} {AUDIO_} is the first one a dog ?", 2, "original")
    user = _user_turn(original)
    assert user.count(token) == 2 and user.rindex(token) < user.index("is the first one a dog ?")
    # every model builds the interleaved format; where the template would move the audio first (Audio
    # Flamingo 3), each clip's audio token still stands at its <audio>
    inter = proc.render_prompt(f"is {AUDIO_} or {AUDIO_} a dog ?", 2, "interleaved")
    before, middle, after = inter.split(token)
    assert "is" in _user_turn(before)
    assert "or" in middle and "a dog ?" in after
    # the batch holds as many audio tokens as the model's processor counts for each clip, in prompt order
    clips = _clips(path, 2)
    batch = proc([f"{AUDIO_} {AUDIO_} is the first one a dog ?"], [clips], "original")
    n_tokens = int((batch["input_ids"] == proc.audio_token_id).sum())
    lengths = [c.shape[1] for c in clips]
    mask = _feature_mask(batch)
    assert mask is None or mask.sum(-1).tolist() == lengths
    assert n_tokens == sum(_audio_tokens(path.name, n) for n in lengths)


def test_features_rule_stores_the_hf_front_end_unpadded(tiny, tmp_path):
    """The features rule's function with front end `hf`: one (bins, frames) row per clip, float16, far from
    the extractor's 3000 frames; FeatureStore.per_clip reads it back for the processor."""
    from shard.dataset import features as F
    from tests.fixtures import build_features, build_tiny_results

    path, llm = tiny
    results = build_tiny_results(tmp_path, classes=("Dog", "Siren"), scenes=1, events=2)
    store = F.FeatureStore(build_features(results, "hf", {"model": str(path)}), results / "clips" / "clips.parquet")
    fe = feature_extractor(str(path))
    clip = pl.read_parquet(results / "clips" / "clips.parquet")["clip_id"][0]
    assert store.get([clip]).dtype == np.float16 and store.shape[1:] == (fe.feature_size, 100)
    batch = llm.processor([f"{AUDIO_} what is this sound ?"], [store.per_clip([clip])], "original")
    assert batch["input_features"].shape[-1] == fe.nb_max_frames


@pytest.mark.parametrize("fmt", ["original", "interleaved"])
def test_voxtral_batch_equals_its_own_processor(tiny, fmt):
    """Voxtral's prompt is written by mistral-common from the waveforms; ours, from cached features and
    stand-in audio, must give the same ids and (up to the frames the STFT smears at the clip's end) features."""
    import base64
    import io

    import soundfile as sf

    path, llm = tiny
    if path.name != "voxtral":
        pytest.skip("Voxtral only: the other models' prompts come from their own chat templates")
    rng = np.random.default_rng(0)
    waves = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (16000, 8000)]

    def audio(wave):
        buf = io.BytesIO()
        sf.write(buf, wave, 16000, format="WAV", subtype="FLOAT")  # lossless
        return {"type": "audio", "base64": base64.b64encode(buf.getvalue()).decode()}

    text = {"original": f"{AUDIO_} {AUDIO_} is it a dog ?", "interleaved": f"is {AUDIO_} or {AUDIO_} a dog ?"}[fmt]
    content = {"original": [audio(waves[0]), audio(waves[1]), {"type": "text", "text": "is it a dog ?"}],
               "interleaved": [{"type": "text", "text": "is "}, audio(waves[0]), {"type": "text", "text": " or "},
                               audio(waves[1]), {"type": "text", "text": " a dog ?"}]}[fmt]
    ref = llm.processor.processor.apply_chat_template([{"role": "user", "content": content}])
    feats = [featurize(w, "hf", {"model": str(path)}) for w in waves]
    batch = llm.processor([text], [feats], fmt)
    assert torch.equal(batch["input_ids"], ref["input_ids"])
    for i, f in enumerate(feats):
        n = f.shape[1]
        np.testing.assert_allclose(batch["input_features"][i, :, :n], ref["input_features"][i, :, :n], atol=1e-6)
        np.testing.assert_allclose(batch["input_features"][i, :, n + 2:], ref["input_features"][i, :, n + 2:],
                                   atol=1e-6)


@pytest.mark.parametrize("fmt", ["original", "interleaved"])
def test_one_clip_first_batch_equals_its_own_processor(tiny, fmt):
    """One clip before the text, the one layout every processor builds itself: our ids (for Audio Flamingo 3's
    interleaved format, its audio tokens placed at the <audio> by us, not by its template) and audio inputs
    equal those of the model's own processor, fed the waveform through its chat template."""
    path, llm = tiny
    if path.name == "voxtral":
        pytest.skip("Voxtral: test_voxtral_batch_equals_its_own_processor (mistral-common takes audio as base64)")
    wave = (0.1 * np.random.default_rng(0).standard_normal(12000)).astype(np.float32)
    conversation = [{"role": "user", "content": [{"type": "audio", "audio": wave},
                                                 {"type": "text", "text": "what is this sound ?"}]}]
    ref = llm.processor.processor.apply_chat_template([conversation], tokenize=True, return_dict=True,
                                                      add_generation_prompt=True, return_tensors="pt")
    stored = featurize(wave, "hf", {"model": str(path)})
    batch = llm.processor([f"{AUDIO_}what is this sound ?"], [[stored]], fmt)
    assert torch.equal(batch["input_ids"], ref["input_ids"])
    assert torch.equal(batch["attention_mask"], ref["attention_mask"])
    assert torch.equal(_feature_mask(batch), _feature_mask(ref))
    n = stored.shape[1]  # up to the frames the STFT smears at the clip's end
    np.testing.assert_allclose(batch["input_features"][..., :n], ref["input_features"][..., :n], atol=1e-6)


def test_qwen2_audio_hub_template_renders_like_transformers_own(tiny):
    """Qwen2-Audio-7B-Instruct's hub template (saved by older transformers) finds an audio item by its `audio`
    key, today's transformers template by its type: both render our audio items, to the same prompt."""
    from shard.models.hf import HFAudioProcessor

    path, llm = tiny
    if path.name != "qwen2_audio":
        pytest.skip("Qwen2-Audio only")
    processor = load_model(MODEL, str(path)).processor.processor  # a copy to give the hub template
    processor.chat_template = QWEN2_AUDIO_HUB_TEMPLATE
    hub = HFAudioProcessor(processor, str(path))
    for text, n, fmt in [(f"{AUDIO_} {AUDIO_} is the first one a dog ?", 2, "original"),
                         (f"is {AUDIO_} or {AUDIO_} a dog ?", 2, "interleaved")]:
        rendered = hub.render_prompt(text, n, fmt)
        assert rendered == llm.processor.render_prompt(text, n, fmt)
        assert "Audio 2: <|audio_bos|><|AUDIO|><|audio_eos|>" in rendered


# ---------------------------------------------------------------- what the backend relies on in transformers
def _upgrade_broke(what: str) -> str:
    import transformers

    return (f"transformers {transformers.__version__}: {what}; shard.models.hf relies on it (tested with the "
            "version envs/install.sh installs)")


def test_cached_features_reach_the_model_through_its_processor(tiny):
    """`expand_audio` calls the processor's public `processor(text, audio, return_text_replacement_offsets=True)`
    with a stand-in for its feature extractor: the one thing beyond the public API, and it must keep working."""
    path, llm = tiny
    if path.name == "voxtral":
        pytest.skip("Voxtral's audio inputs come from mistral-common (VoxtralAudioProcessor._expand)")
    proc = llm.processor
    lengths, width = [100, 60], proc.extractor.nb_max_frames
    feats = torch.randn(len(lengths), proc.extractor.feature_size, width, generator=torch.Generator().manual_seed(0))
    mask = (torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]).long()
    try:
        inputs, replacements = expand_audio(proc.processor, feats, mask, lengths)
    except Exception as err:  # noqa: BLE001 (any failure here is the upgrade's)
        pytest.fail(_upgrade_broke(f"processor(text=..., audio=..., return_text_replacement_offsets=True) failed "
                                   f"with the cached-feature stand-in: {err!r}"))
    assert torch.equal(inputs["input_features"], feats), _upgrade_broke(
        "the processor no longer reads its feature extractor from `feature_extractor` / `audio_processor`")
    assert [r.count(proc.audio_token) for r in replacements] == [_audio_tokens(path.name, n) for n in lengths], \
        _upgrade_broke("the audio-token text per clip changed")
    assert not set(inputs) & {"input_ids", "text_replacement_offsets"}


def test_model_class_comes_from_the_auto_class_or_the_config(tiny):
    from transformers import AutoConfig, MODEL_FOR_MULTIMODAL_LM_MAPPING

    path, llm = tiny
    config = AutoConfig.from_pretrained(path, local_files_only=True)
    cls = _model_class(config)
    assert isinstance(llm.model, cls)
    if type(config) in MODEL_FOR_MULTIMODAL_LM_MAPPING:
        assert cls is MODEL_FOR_MULTIMODAL_LM_MAPPING[type(config)]
    else:  # Audio Flamingo 3 is no AutoModelForMultimodalLM: its config names its class
        assert cls.__name__ in config.architectures
    assert path.name != "qwen2_audio" or type(config) in MODEL_FOR_MULTIMODAL_LM_MAPPING, \
        _upgrade_broke("AutoModelForMultimodalLM's mapping no longer lists Qwen2-Audio")
