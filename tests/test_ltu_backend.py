"""The ltu backend on a tiny random LTU written in the release's key layout (tests/ltu_tiny.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from peft import get_peft_model

from shard.prompts import templates
from shard.common import ShardError
from shard.models.finetune import lora_config
from shard.models import load_model
from tests.ltu_tiny import ARCH, N_AUDIO, release_shapes, tiny_model_cfg, write_tiny_ltu

LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"], "train_projector": False}
PROMPTS = ["Is <audio> a dog ?", "Which of these is <audio> and <audio> the same ? Options: dog, church bell.",
           "Is <audio> a kind of alarm signal device ?"]
OPTIONS = [["yes", "no"], ["dog", "church bell", "alarm signal device", "hound"], ["no", "yes", "church bell"]]


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    return write_tiny_ltu(tmp_path_factory.mktemp("ltu"))


@pytest.fixture(scope="module")
def llm(paths):
    return load_model(tiny_model_cfg(paths), paths["base"])


def feats(n: int, seed: int = 0) -> list[np.ndarray]:
    g = np.random.default_rng(seed)
    return [g.normal(size=(ARCH["n_mels"], ARCH["n_frames"])).astype(np.float16) for _ in range(n)]


def rewrite(paths, tmp_path, edit) -> dict:
    """A copy of the tiny checkpoint changed by `edit(state)`."""
    state = torch.load(paths["checkpoint"], weights_only=True)
    edit(state)
    torch.save(state, tmp_path / "edited.bin")
    return {**paths, "checkpoint": str(tmp_path / "edited.bin")}


# ---------------------------------------------------------------- loading
def test_every_checkpoint_key_lands_and_lora_is_merged(paths, llm):
    state = torch.load(paths["checkpoint"], weights_only=True)
    assert set(state) == set(release_shapes())
    params = dict(llm.model.named_parameters())
    for key, value in state.items():
        name = key.removeprefix("base_model.model.model.")
        if name.startswith("audio_encoder."):
            assert torch.equal(params[name], value), key
        elif name.startswith("audio_proj."):
            assert torch.equal(params["projector." + name.removeprefix("audio_proj.")], value), key
    # q/v = base weight + alpha / r * B @ A (LTU: 16 / 8)
    from transformers import LlamaForCausalLM

    base = LlamaForCausalLM.from_pretrained(paths["base"]).state_dict()
    for i in range(2):
        for proj in ("q_proj", "v_proj"):
            key = f"base_model.model.model.layers.{i}.self_attn.{proj}"
            expect = base[f"model.layers.{i}.self_attn.{proj}.weight"] + \
                2.0 * state[f"{key}.lora_B.default.weight"] @ state[f"{key}.lora_A.default.weight"]
            assert torch.allclose(params[f"language_model.model.layers.{i}.self_attn.{proj}.weight"], expect, atol=1e-6)
        k = f"model.layers.{i}.self_attn.k_proj.weight"
        assert torch.equal(params["language_model." + k], base[k])


def test_extra_or_missing_keys_are_errors_that_list_them(paths, tmp_path):
    enc = "base_model.model.model.audio_encoder."
    extra = rewrite(paths, tmp_path, lambda s: s.update({enc + "cls_token": torch.zeros(3)}))
    with pytest.raises(ShardError, match=r"1 unexpected key\(s\): base_model\.model\.model\.audio_encoder\.cls_token"):
        load_model(tiny_model_cfg(extra), paths["base"])
    lora_b = "base_model.model.model.layers.1.self_attn.v_proj.lora_B.default.weight"
    missing = rewrite(paths, tmp_path, lambda s: [s.pop(enc + "blocks_u.0.norm1_a.bias"), s.pop(lora_b)])
    with pytest.raises(ShardError, match=r"2 missing: audio_encoder\.blocks_u\.0\.norm1_a\.bias, LoRA B of "
                                         r"language_model\.model\.layers\.1\.self_attn\.v_proj\.weight"):
        load_model(tiny_model_cfg(missing), paths["base"])
    many = rewrite(paths, tmp_path, lambda s: s.update({f"vision_tower.{i}": torch.zeros(1) for i in range(25)}))
    with pytest.raises(ShardError, match=r"25 unexpected key\(s\): vision_tower\.0, .*\.19, \.\.\. \(5 more\)"):
        load_model(tiny_model_cfg(many), paths["base"])
    shape = rewrite(paths, tmp_path, lambda s: s.update({"base_model.model.model.audio_proj.1.bias": torch.zeros(3)}))
    with pytest.raises(ShardError, match=r"audio_proj\.1\.bias: \(3,\) in the file, \(64,\) in the model"):
        load_model(tiny_model_cfg(shape), paths["base"])


def test_full_finetune_checkpoint_overrides_the_llama_weights(paths, tmp_path):
    """full_ft_*.bin style: the LLM's own weights too, and old transformers' rotary buffers (checked, not loaded)."""
    head_dim = 64 // 4
    q = "base_model.model.model.layers.0.self_attn.q_proj"
    new = {"base_model.model.lm_head.weight": torch.randn(len_vocab(paths), 64), q + ".weight": torch.randn(64, 64),
           q.replace("q_proj", "rotary_emb.inv_freq"): 1.0 / 10000 ** (torch.arange(0, head_dim, 2).float() / head_dim)}
    full = rewrite(paths, tmp_path, lambda s: s.update(new))
    llm = load_model(tiny_model_cfg(full), paths["base"])
    state = torch.load(full["checkpoint"], weights_only=True)
    lm = llm.model.language_model
    assert torch.equal(lm.lm_head.weight, new["base_model.model.lm_head.weight"])
    merged = new[q + ".weight"] + 2.0 * state[q + ".lora_B.default.weight"] @ state[q + ".lora_A.default.weight"]
    assert torch.allclose(lm.model.layers[0].self_attn.q_proj.weight, merged, atol=1e-6)
    rotary = "base_model.model.model.layers.0.self_attn.rotary_emb.inv_freq"
    wrong = rewrite(paths, tmp_path, lambda s: s.update({rotary: torch.ones(head_dim // 2)}))
    with pytest.raises(ShardError, match="rotary frequencies differ"):
        load_model(tiny_model_cfg(wrong), paths["base"])


def len_vocab(paths) -> int:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(paths["base"]).vocab_size


class NotATensor:
    pass


def test_pickled_objects_are_refused(paths, tmp_path):
    bad = rewrite(paths, tmp_path, lambda s: s.update({"optimizer": NotATensor()}))
    with pytest.raises(ShardError, match="not unpickled"):
        load_model(tiny_model_cfg(bad), paths["base"])


def test_safetensors_checkpoint_loads_the_same(paths, llm, tmp_path):
    from safetensors.torch import save_file

    save_file(torch.load(paths["checkpoint"], weights_only=True), tmp_path / "ltu.safetensors")
    other = load_model(tiny_model_cfg({**paths, "checkpoint": str(tmp_path / "ltu.safetensors")}), paths["base"])
    for (n, a), (_, b) in zip(llm.model.named_parameters(), other.model.named_parameters()):
        assert torch.equal(a, b), n


def test_missing_files_are_clear_errors(paths, tmp_path):
    with pytest.raises(ShardError, match="no config.json"):
        load_model(tiny_model_cfg(paths), str(tmp_path / "nope"))
    with pytest.raises(ShardError, match="does not exist; set model.checkpoint"):
        load_model(tiny_model_cfg({**paths, "checkpoint": str(tmp_path / "nope.bin")}), paths["base"])


# ---------------------------------------------------------------- formats
def test_audio_positions_and_merged_embeddings(llm):
    model, p = llm.model, llm.processor
    assert p.audio_token_id == len(p.tokenizer) - 1 == model.language_model.config.vocab_size  # no resize
    for fmt, text, n in [("original", templates.to_original(templates.CAPTION.text), 1),
                         ("interleaved", "Is <audio> a kind of <audio> ?", 2)]:
        b = p([text], [feats(n, 3)], fmt)
        ids = b["input_ids"][0]
        positions = ids == p.audio_token_id
        if fmt == "original":  # LTU: the audio first, then BOS and the template
            assert positions[:N_AUDIO].all() and not positions[N_AUDIO:].any() and ids[N_AUDIO] == p.bos_id
        else:  # each block where its placeholder was, after BOS and the template's head
            assert ids[0] == p.bos_id
            starts = [i for i in range(1, len(ids)) if positions[i] and not positions[i - 1]]
            assert len(starts) == 2 and int(positions.sum()) == 2 * N_AUDIO
            assert p.tokenizer.decode(ids[starts[0] + N_AUDIO:starts[1]]) == "a kind of"
        with torch.no_grad():
            merged = model.merge_audio(b["input_ids"], b["audio_features"])[0]
            audio = model.get_audio_embeddings(b["audio_features"]).reshape(-1, merged.shape[-1])
            text_only = model.get_input_embeddings()(ids[~positions])
        assert torch.equal(merged[positions], audio) and torch.equal(merged[~positions], text_only)


def test_pooling_is_ltus(llm):
    """mean over the mel rows of the patch grid, then pairs of frame patches averaged, / 50, projector."""
    model, c = llm.model, llm.model.config
    x = torch.from_numpy(np.stack(feats(2, 1))).float()
    with torch.no_grad():
        enc = model.audio_encoder(x)  # (2, rows * cols, d), row-major over (mel, frame)
        rows, cols = c.n_mels // 16, c.n_frames // 16
        grid = enc.view(2, rows, cols, -1)
        manual = torch.stack([grid[:, :, 2 * t:2 * t + 2].mean((1, 2)) for t in range(cols // 2)], 1)
        assert torch.allclose(model.get_audio_embeddings(x), model.projector(manual / 50), atol=1e-5)
    assert model.get_audio_embeddings(x).shape == (2, N_AUDIO, 64)


# ---------------------------------------------------------------- interface
def test_loss_is_finite_and_decreases(paths):
    llm = load_model(tiny_model_cfg(paths), paths["base"])
    batch = llm.processor(PROMPTS, [feats(1, 1), feats(2, 2), feats(1, 3)], "interleaved", answers=["yes", "dog", "no"])
    opt = torch.optim.AdamW(llm.model.parameters(), lr=1e-3)
    llm.model.train()
    losses = []
    for _ in range(5):
        loss = llm.loss(batch)
        assert torch.isfinite(loss)
        loss.backward(); opt.step(); opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("fmt", ["interleaved", "original"])
def test_shared_cache_scores_equal_full_forward(llm, fmt):
    texts = PROMPTS if fmt == "interleaved" else [templates.to_original(templates.CAPTION.text)] * 3
    fs = [feats(1, 1), feats(2, 2), feats(1, 3)] if fmt == "interleaved" else [feats(1, i) for i in range(3)]
    shared = llm.option_logprobs(texts, fs, fmt, OPTIONS, share_cache=True)
    full = llm.option_logprobs(texts, fs, fmt, OPTIONS, share_cache=False)
    for a, b in zip(shared, full):
        assert [n for _, n in a] == [n for _, n in b]
        assert np.allclose([s for s, _ in a], [s for s, _ in b], atol=1e-4, rtol=0)


def test_generation_returns_strings_without_the_audio_token(llm):
    out = llm.generate(PROMPTS, [feats(1, 1), feats(2, 2), feats(1, 3)], "interleaved", max_new_tokens=4)
    assert len(out) == 3 and all(isinstance(s, str) for s in out)
    assert out == [llm.generate([t], [f], "interleaved", 4)[0] for t, f in zip(PROMPTS, [feats(1, 1), feats(2, 2),
                                                                                        feats(1, 3)])]


@pytest.mark.parametrize("checkpointing", [False, True])
def test_lora_step_touches_only_the_language_models_adapter(paths, checkpointing):
    llm = load_model(tiny_model_cfg(paths, gradient_checkpointing=checkpointing), paths["base"])
    assert llm.model.language_model.is_activation_checkpointing == checkpointing
    torch.manual_seed(0)
    llm.model = get_peft_model(llm.model, lora_config(LORA))
    wrapped = sorted({n.rsplit(".lora_", 1)[0] for n, _ in llm.model.named_modules() if ".lora_A" in n})
    assert wrapped and all(".language_model." in n and "audio_encoder" not in n for n in wrapped)
    assert len(wrapped) == 2 * 2  # q_proj, v_proj of both layers
    before = {n: p.detach().clone() for n, p in llm.model.named_parameters()}
    trainable = [p for p in llm.model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-2)
    llm.model.train()
    batch = llm.processor(PROMPTS, [feats(1, 1), feats(2, 2), feats(1, 3)], "interleaved", answers=["yes", "dog", "no"])
    for _ in range(2):  # two steps: lora_B starts at zero, lora_A moves from the second on
        llm.loss(batch).backward(); opt.step(); opt.zero_grad()
    changed = {n for n, p in llm.model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(".language_model." in n and ".lora_" in n for n in changed)
    assert not any("audio_encoder" in n or "projector" in n for n in changed)


def test_adapter_round_trip(paths, tmp_path):
    """What the finetune rule saves, load_model(adapter_dir=...) gives back: the same scores."""
    llm = load_model(tiny_model_cfg(paths), paths["base"])
    torch.manual_seed(0)
    llm.model = get_peft_model(llm.model, lora_config(LORA))
    with torch.no_grad():
        for n, p in llm.model.named_parameters():
            if "lora_B" in n:
                p.normal_(std=0.1)  # a trained adapter is not the identity
    llm.model.save_pretrained(tmp_path / "adapter")
    loaded = load_model(tiny_model_cfg(paths), paths["base"], adapter_dir=str(tmp_path / "adapter"))
    fs = [feats(1, 1), feats(2, 2), feats(1, 3)]
    scores = [np.concatenate(m.option_logprobs(PROMPTS, fs, "interleaved", OPTIONS))[:, 0]
              for m in (loaded, llm, load_model(tiny_model_cfg(paths), paths["base"]))]
    assert np.allclose(scores[0], scores[1], atol=1e-5) and not np.allclose(scores[0], scores[2], atol=1e-3)
    with pytest.raises(ShardError, match="no adapter_config.json"):
        load_model(tiny_model_cfg(paths), paths["base"], adapter_dir=str(tmp_path))
