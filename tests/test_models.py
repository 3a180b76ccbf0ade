"""Processor, mini_ltu and the AudioLLM interface on a tiny model with random features."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from shard.prompts import templates
from shard.common import ShardError
from shard.models import AudioLLM, AudioProcessor, build_tokenizer, load_model, resolve_device
from shard.models.mini_ltu import random_mini_ltu
from shard.models.processor import IGNORE

N_MELS, N_FRAMES, N_AUDIO = 8, 20, 3
LABELS = ["dog", "church bell", "siren"]
WORDS = ["canine", "hound", "bell", "alarm", "signal", "device"]
TINY = {"hidden_size": 32, "layers": 2, "heads": 2, "audio_tokens": N_AUDIO}


TINY_TEXTS = [templates.LTU_PROMPT, templates.to_original(templates.CAPTION.text), templates.CAPTION.text,
              "Is <audio> a kind of?",
              "Options: yes no , .", "Which of these is <audio> and <audio> the same ?"]


def tiny_llm(seed: int = 0, train_on_prompt: bool = False) -> AudioLLM:
    model, tok = random_mini_ltu(TINY_TEXTS, TINY, required=LABELS + WORDS + ["yes", "no"], n_mels=N_MELS,
                                 n_frames=N_FRAMES, seed=seed)
    return AudioLLM(model.eval(), AudioProcessor(tok, N_AUDIO, train_on_prompt), torch.device("cpu"), "mini_ltu")


def feats(n: int, seed: int = 0) -> list[np.ndarray]:
    g = np.random.default_rng(seed)
    return [g.normal(size=(N_MELS, N_FRAMES)).astype(np.float16) for _ in range(n)]


@pytest.fixture(scope="module")
def llm():
    return tiny_llm()


def audio_runs(ids: list[int], audio_id: int) -> list[tuple[int, int]]:
    """(start, length) of each run of audio ids."""
    runs, i = [], 0
    while i < len(ids):
        if ids[i] == audio_id:
            j = i
            while j < len(ids) and ids[j] == audio_id:
                j += 1
            runs.append((i, j - i)); i = j
        else:
            i += 1
    return runs


# ---------------------------------------------------------------- processor
def test_interleaved_blocks_stay_at_their_placeholders(llm):
    p = llm.processor
    ids = p.encode_prompt("Is <audio> a kind of <audio> ?", 2, "interleaved")
    assert ids[0] == p.bos_id
    runs = audio_runs(ids, p.audio_token_id)
    assert [n for _, n in runs] == [N_AUDIO, N_AUDIO]
    # the words around each block are exactly the text around each placeholder
    head = p.tokenizer.encode(templates.LTU_PROMPT.format(instruction="Is ").split("\n\n")[0], add_special_tokens=False)
    assert ids[1:runs[0][0]] == head
    between = ids[runs[0][0] + N_AUDIO:runs[1][0]]
    assert p.tokenizer.decode(between) == "a kind of"


def test_original_puts_the_audio_block_before_bos(llm):
    p = llm.processor
    ids = p.encode_prompt(templates.to_original(templates.CAPTION.text), 1, "original")
    assert ids[:N_AUDIO] == [p.audio_token_id] * N_AUDIO and ids[N_AUDIO] == p.bos_id
    assert p.audio_token_id not in ids[N_AUDIO:]
    with pytest.raises(ValueError, match="starts with <audio>"):
        p.encode_prompt(templates.CAPTION.text, 1, "original")


def test_placeholder_count_mismatch_names_the_prompt(llm):
    with pytest.raises(ValueError, match=r"p7: 2 <audio> placeholder\(s\) but 1 clip"):
        llm.processor(["Is <audio> like <audio> ?"], [feats(1)], "interleaved", names=["p7"])


def test_labels_mask_audio_prompt_and_padding(llm):
    p = llm.processor
    texts = ["Is <audio> a dog ?", "Which of these is <audio> and <audio> the same ?"]
    b = p(texts, [feats(1), feats(2)], "interleaved", answers=["yes", "church bell"])
    ids, labels, mask = b["input_ids"], b["labels"], b["attention_mask"]
    assert (labels[mask == 0] == IGNORE).all() and (mask[0, 0] == 0)  # left padding, masked
    audio = ids == p.audio_token_id
    assert (labels[audio] == IGNORE).all() and int(audio.sum()) == 3 * N_AUDIO
    for row, answer in enumerate(["yes", "church bell"]):
        target = p.encode_answer(answer) + [p.eos_id]
        kept = labels[row][labels[row] != IGNORE].tolist()
        assert kept == target and ids[row, -len(target):].tolist() == target
    assert b["audio_features"].shape == (3, N_MELS, N_FRAMES)
    # positions count real tokens only, so the padded row starts at 0 too
    assert b["position_ids"][0][mask[0] == 1].tolist() == list(range(int(mask[0].sum())))

    on = AudioProcessor(p.tokenizer, N_AUDIO, train_on_prompt=True)
    b2 = on(texts, [feats(1), feats(2)], "interleaved", answers=["yes", "church bell"])
    trained = (b2["labels"] != IGNORE)
    assert (trained == (mask.bool() & (b2["input_ids"] != p.audio_token_id))).all()


def test_right_padding_gives_the_same_loss(llm):
    texts, fs, answers = ["Is <audio> a dog ?", "Which of these is <audio> ?"], [feats(1), feats(1, 1)], ["yes", "siren"]
    left = llm.loss(llm.processor(texts, fs, "interleaved", answers, padding_side="left"))
    right = llm.loss(llm.processor(texts, fs, "interleaved", answers, padding_side="right"))
    assert abs(left.item() - right.item()) < 1e-5



def test_a_prompts_weight_counts_it_that_many_times(llm):
    """Pretraining weighs its facts (synthesis.fact_pretrain_prompts' `weight`): a prompt of weight 3 moves the loss
    as three copies of it would; weights of 1 are the model's own loss."""
    texts, fs, answers = ["Is <audio> a dog ?", "Which of these is <audio> ?"], [feats(1), feats(1, 1)], ["yes", "siren"]
    once = llm.processor(texts, fs, "interleaved", answers)
    thrice = llm.processor([texts[0], texts[1], texts[1], texts[1]], [fs[0], fs[1], fs[1], fs[1]], "interleaved",
                           [answers[0], *[answers[1]] * 3])
    weighted = llm.loss(once, torch.tensor([1.0, 3.0]))
    assert abs(weighted.item() - llm.loss(thrice).item()) < 1e-5
    assert abs(llm.loss(once, torch.ones(2)).item() - llm.loss(once).item()) < 1e-5
    assert abs(weighted.item() - llm.loss(once).item()) > 1e-3  # the weight moved it
# ---------------------------------------------------------------- model
def test_audio_embeddings_land_exactly_at_audio_positions(llm):
    model, p = llm.model, llm.processor
    for fmt, text, n in [("interleaved", "Is <audio> a kind of <audio> ?", 2),
                         ("original", templates.to_original(templates.CAPTION.text), 1)]:
        b = p([text], [feats(n, 3)], fmt)
        with torch.no_grad():
            merged = model.merge_audio(b["input_ids"], b["audio_features"])[0]
            text_only = model.get_input_embeddings()(b["input_ids"])[0]
            audio = model.get_audio_embeddings(b["audio_features"]).reshape(-1, merged.shape[-1])
        positions = b["input_ids"][0] == p.audio_token_id
        assert torch.equal(merged[positions], audio)
        assert torch.equal(merged[~positions], text_only[~positions])
        if fmt == "original":
            assert positions[:N_AUDIO].all() and b["input_ids"][0, N_AUDIO] == p.bos_id


def test_model_raises_when_audio_positions_and_features_differ(llm):
    b = llm.processor(["Is <audio> a kind of <audio> ?"], [feats(2)], "interleaved")
    with pytest.raises(ValueError, match=r"6 <audio> positions .* but 3 audio vectors"):
        llm.model(input_ids=b["input_ids"], audio_features=b["audio_features"][:1])


# ---------------------------------------------------------------- interface
PROMPTS = ["Is <audio> a dog ?", "Which of these is <audio> and <audio> the same ? Options: dog, church bell.",
           "Is <audio> a kind of alarm signal device ?"]
OPTIONS = [["yes", "no"], ["dog", "church bell", "alarm signal device", "hound"], ["no", "yes", "church bell"]]


def test_shared_cache_scores_equal_full_forward(llm):
    fs = [feats(1, 1), feats(2, 2), feats(1, 3)]
    shared = llm.option_logprobs(PROMPTS, fs, "interleaved", OPTIONS, share_cache=True)
    full = llm.option_logprobs(PROMPTS, fs, "interleaved", OPTIONS, share_cache=False)
    assert [[n for _, n in row] for row in shared] == [[1, 1], [1, 2, 3, 1], [1, 1, 2]]
    for a, b in zip(shared, full):
        assert np.allclose([s for s, _ in a], [s for s, _ in b], atol=1e-4, rtol=0)
    orig = [templates.to_original(templates.CAPTION.text)] * 2
    s1 = llm.option_logprobs(orig, [feats(1, 4), feats(1, 5)], "original", [LABELS, LABELS], share_cache=True)
    s2 = llm.option_logprobs(orig, [feats(1, 4), feats(1, 5)], "original", [LABELS, LABELS], share_cache=False)
    assert np.allclose(np.array(s1)[..., 0], np.array(s2)[..., 0], atol=1e-4, rtol=0)


def test_left_padded_batch_equals_one_by_one(llm):
    fs = [feats(1, 1), feats(2, 2), feats(1, 3)]
    batched = llm.option_logprobs(PROMPTS, fs, "interleaved", OPTIONS)
    for i in range(len(PROMPTS)):
        alone = llm.option_logprobs([PROMPTS[i]], [fs[i]], "interleaved", [OPTIONS[i]])[0]
        assert np.allclose([s for s, _ in batched[i]], [s for s, _ in alone], atol=1e-4, rtol=0)
    assert llm.generate(PROMPTS, fs, "interleaved", 5) == \
        [llm.generate([t], [f], "interleaved", 5)[0] for t, f in zip(PROMPTS, fs)]


def test_save_and_load_model_round_trip(llm, tmp_path):
    llm.model.save_pretrained(tmp_path)
    llm.processor.tokenizer.save_pretrained(tmp_path)
    loaded = load_model({"backend": "mini_ltu", "device": "cpu"}, str(tmp_path))
    fs = [feats(1, 1), feats(2, 2), feats(1, 3)]
    assert loaded.option_logprobs(PROMPTS, fs, "interleaved", OPTIONS) == \
        llm.option_logprobs(PROMPTS, fs, "interleaved", OPTIONS)


def test_unknown_backend_names_the_choices(tmp_path):
    with pytest.raises(ShardError, match=r"unknown backend 'qwen2_audio'; choose one of \('mini_ltu', 'ltu', 'hf'\)"):
        load_model({"backend": "qwen2_audio"}, str(tmp_path))


@pytest.mark.parametrize("backend", ["mini_ltu", "ltu", "hf"])
def test_missing_base_dir_names_the_backend_fix(backend, tmp_path):
    with pytest.raises(ShardError, match="no config.json"):
        load_model({"backend": backend, "device": "cpu", "checkpoint": None}, str(tmp_path / "nope"))


def test_missing_base_dir_is_a_clear_error(tmp_path):
    with pytest.raises(ShardError, match="no config.json"):
        load_model({"backend": "mini_ltu", "device": "cpu"}, str(tmp_path / "nope"))


def test_tokenizer_covers_required_words_even_when_vocab_is_small():
    common = " ".join(f"w{i}" for i in range(200))
    tok = build_tokenizer([common, common, "a b c , ."], 50, required=["church bell", "Hound"])
    assert tok.unk_token_id not in tok.encode("church bell hound", add_special_tokens=False)
    assert tok.decode(tok.encode("Church bell hound", add_special_tokens=False)) == "church bell hound"
    tok = build_tokenizer(["a b c , ."], 100, required=["church bell", "Hound"])
    assert tok.decode(tok.encode("Church bell, hound.", add_special_tokens=False)) == "church bell, hound."
    assert tok.convert_tokens_to_ids(templates.AUDIO) == tok.convert_tokens_to_ids("<audio>") != tok.unk_token_id


def test_a_missing_adapter_is_a_clear_error(llm, tmp_path):
    llm.model.save_pretrained(tmp_path / "base")
    llm.processor.tokenizer.save_pretrained(tmp_path / "base")
    with pytest.raises(ShardError, match="adapter directory .* has no adapter_config.json; rerun its fine-tuning rule"):
        load_model({"backend": "mini_ltu", "device": "cpu"}, str(tmp_path / "base"), str(tmp_path))


def test_device_is_chosen_in_one_place(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("LOCAL_RANK", "1")  # under torchrun: read on GPUs only
    assert resolve_device("auto") == resolve_device(None) == resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ShardError, match="'model.device' is 'cuda' but no GPU is visible"):
        resolve_device("cuda")


# ---------------------------------------------------------------- package layout
def test_the_interface_imports_no_backend():
    """Backends import the interface, never the reverse: load_model dispatches by the registry's records."""
    import ast

    from shard.models import interface

    tree = ast.parse(Path(interface.__file__).read_text())
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    modules |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not {m.rsplit(".", 1)[-1] for m in modules if m} & {"hf", "ltu", "mini_ltu", "backends"}


# ---------------------------------------------------------------- provenance
def test_identity_and_base_checksums_hash_each_file_once_in_their_order(tmp_path):
    from shard.common import sha1_file
    from shard.models.provenance import base_checksums, model_identity

    base, adapter, checkpoint = tmp_path / "base", tmp_path / "ft", tmp_path / "ltu.bin"
    for path, text in [(base / "model.safetensors", "w"), (base / "config.json", "c"), (base / "tokenizer.json", "t"),
                       (base / "extra.bin", "b"), (base / "notes.txt", "n"),
                       (adapter / "adapter_model.safetensors", "a"), (checkpoint, "k")]:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    sha = {p.name: sha1_file(p) for p in (*base.iterdir(), *adapter.iterdir(), checkpoint)}
    assert list(base_checksums(str(base)).items()) == [(n, sha[n]) for n in ("config.json", "extra.bin",
                                                                             "model.safetensors", "tokenizer.json")]
    ltu = {"backend": "ltu", "frontend": "ltu_fbank", "checkpoint": str(checkpoint)}
    assert json.dumps(model_identity(ltu, str(base), str(adapter))) == json.dumps({
        "backend": "ltu", "frontend": "ltu_fbank", "base": str(base), "adapter": str(adapter), "checkpoint": "ltu.bin",
        "base_sha1": sha["model.safetensors"], "checkpoint_sha1": sha["ltu.bin"],
        "adapter_sha1": sha["adapter_model.safetensors"]})
    mini = {"backend": "mini_ltu", "frontend": "logmel", "checkpoint": None}
    assert json.dumps(model_identity(mini, str(tmp_path / "nope"), None)) == json.dumps({
        "backend": "mini_ltu", "frontend": "logmel", "base": str(tmp_path / "nope"), "adapter": None})
