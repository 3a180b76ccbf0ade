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
from tests.fixtures import write_feature_set
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


# ---------------------------------------------------------------- LTU's inference and fine-tuning, as released
# src/ltu/inference_batch.py (ESC-50 and the other classification sets; its generation config) and
# src/ltu/eval/eval_esc.py (what of an answer is embedded), src/ltu/finetune.py (stage 4), rebuilt at tiny size.
LTU_INSTRUCTION = "Close-ended question: Write an audio caption describing the sound."
LTU_SAMPLING = {"do_sample": True, "temperature": 0.1, "top_p": 0.95, "top_k": 500, "repetition_penalty": 1.1,
                "max_new_tokens": 400}


def ltu_prompt(instruction: str) -> str:
    """LTU's Prompter('alpaca_short').generate_prompt(instruction) (src/ltu/utils/prompter.py)."""
    return templates.LTU_PROMPT.format(instruction=instruction)


@pytest.fixture(scope="module")
def sp_paths(tmp_path_factory):
    return write_tiny_ltu(tmp_path_factory.mktemp("ltu_sp"), sentencepiece=True)


@pytest.fixture(scope="module")
def embed():
    from shard.evaluation.evaluate import sentence_embedder

    return sentence_embedder("cpu")


def test_sentencepiece_llama_tokenizer_reads_as_ltu_sets_it(sp_paths):
    """vicuna_ltu's kind of tokenizer (tokenizer.model, LlamaTokenizer): pad/bos/eos 0/1/2, and LTU's labelling
    prompt gets LTU's ids: the audio first, then tokenizer(Prompter's prompt) with its BOS."""
    from shard.evaluation.decoding import caption_instruction
    from shard.models.backends import backend

    llm = load_model(tiny_model_cfg(sp_paths), sp_paths["base"])
    tok, p = llm.processor.tokenizer, llm.processor
    assert type(tok).__name__ == "LlamaTokenizer" and (tok.unk_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
    assert (p.pad_id, p.bos_id, p.eos_id) == (0, 1, 2) == (llm.model.config.pad_token_id, llm.model.config.bos_token_id,
                                                           llm.model.config.eos_token_id)
    text = caption_instruction(backend("ltu"), "original")
    assert text == templates.AUDIO + LTU_INSTRUCTION
    ids = p([text], [feats(1)], "original")["input_ids"][0].tolist()
    assert ids == [p.audio_token_id] * N_AUDIO + tok(ltu_prompt(LTU_INSTRUCTION)).input_ids
    assert caption_instruction(backend("ltu"), "interleaved") == LTU_INSTRUCTION.replace("the sound", "<audio>")
    assert caption_instruction(backend("mini_ltu"), "original") is None  # the prompts' own, as before


def test_a_tokenizer_with_other_special_ids_is_refused(paths, tmp_path):
    import shutil

    from transformers import AutoTokenizer

    base = tmp_path / "llama"
    shutil.copytree(paths["base"], base)
    tok = AutoTokenizer.from_pretrained(base)
    tok.bos_token, tok.eos_token = "</s>", "<s>"
    tok.save_pretrained(base)
    with pytest.raises(ShardError, match=r"are ids \(0, 2, 1\), not LLaMA's 0, 1, 2"):
        load_model(tiny_model_cfg(paths), str(base))


def test_caption_split_embeds_what_eval_esc_embeds(embed):
    """eval_esc.py: 'sound of ' + pred.split(':')[-1].lstrip().lower(); ours: sound_of(the last piece)."""
    from shard.evaluation.decoding import embedded_caption
    from shard.models.backends import backend

    split = backend("ltu").caption_split
    preds = ["Labels: Dog barking", "Sound: church bell; Caption: A Siren wails ", "rain falling on a roof"]
    ltu = ["sound of " + pred.split(":")[-1].lstrip().lower() for pred in preds]
    ours = [templates.sound_of(embedded_caption(pred, split).strip()) for pred in preds]
    assert np.allclose(embed(ltu), embed(ours), atol=1e-6)  # all-MiniLM-L6-v2 is uncased
    assert embedded_caption("Labels: dog", backend("mini_ltu").caption_split) == "Labels: dog"


def test_default_decoding_is_greedy_and_calls_generate_as_before():
    """The schema's model.generate defaults pass nothing beyond the cap: mini_ltu is called exactly as before."""
    from shard.config import schema
    from shard.evaluation.decoding import Decoding

    spec = schema()["properties"]["model"]["properties"]["generate"]["properties"]
    defaults = {k: v["default"] for k, v in spec.items()}
    decoding = Decoding({"generate": defaults}, {"max_new_tokens": 16})
    assert decoding.options == {} and decoding.max_new_tokens == 16
    assert Decoding({"generate": LTU_SAMPLING}, {"max_new_tokens": 16}).max_new_tokens == 400


def test_ltu_sampling_is_ltus_generate_call_seeded(llm):
    """LTU's GenerationConfig (do_sample, temperature 0.1, top_p 0.95, top_k 500, repetition_penalty 1.1) under a
    seed from model.generate.seed and the batch's prompt ids: reproducible, and what LTU's call draws."""
    import polars as pl
    from transformers import GenerationConfig

    from shard.common import seed_for
    from shard.evaluation.decoding import Decoding

    decoding = Decoding({"generate": {**LTU_SAMPLING, "max_new_tokens": 12, "seed": 3}}, {"max_new_tokens": 4})
    text = templates.AUDIO + LTU_INSTRUCTION
    batch = pl.DataFrame({"prompt_id": ["a", "b"], "text": [text, text]})
    fs = [feats(1, 1), feats(1, 2)]
    rng_before = torch.get_rng_state()
    out = decoding(llm, batch, fs, "original")
    assert torch.equal(torch.get_rng_state(), rng_before)  # sampled on a forked RNG: nothing else moves
    assert out == decoding(llm, batch, fs, "original")
    enc = llm.encode([text, text], fs, "original")
    enc.pop("position_ids")
    config = GenerationConfig(do_sample=True, temperature=0.1, top_p=0.95, top_k=500, repetition_penalty=1.1,
                              max_new_tokens=12, bos_token_id=1, eos_token_id=2, pad_token_id=0, num_return_sequences=1)
    torch.manual_seed(seed_for(3, "generate", "a", "b"))
    with torch.no_grad():
        seq = llm.model.generate(**enc, generation_config=config, suppress_tokens=[llm.processor.audio_token_id])
    new = seq[:, enc["input_ids"].shape[1]:].tolist()
    assert out == [llm.processor.tokenizer.decode(row, skip_special_tokens=True).strip() for row in new]


def test_float16_merges_ltus_lora_in_float32_before_the_cast(paths):
    from transformers import LlamaForCausalLM

    llm = load_model(tiny_model_cfg(paths, dtype="float16"), paths["base"])
    assert {p.dtype for p in llm.model.parameters()} == {torch.float16}
    state = torch.load(paths["checkpoint"], weights_only=True)
    base = LlamaForCausalLM.from_pretrained(paths["base"], dtype=torch.float32).state_dict()
    params = dict(llm.model.named_parameters())
    for i in range(2):
        for proj in ("q_proj", "v_proj"):
            key = f"base_model.model.model.layers.{i}.self_attn.{proj}"
            merged = base[f"model.layers.{i}.self_attn.{proj}.weight"] + \
                2.0 * state[f"{key}.lora_B.default.weight"] @ state[f"{key}.lora_A.default.weight"]
            assert torch.equal(params[f"language_model.model.layers.{i}.self_attn.{proj}.weight"], merged.half())


def test_evaluate_labels_audio_as_ltu_does(paths, llm, tmp_path):
    """evaluate() on the tiny LTU: the labelling prompts ask LTU's instruction, captions are sampled as
    model.generate says, and what follows a caption's last ':' is embedded."""
    import json

    import polars as pl

    from shard.common import read_jsonl, write_parquet
    from shard.evaluation.conditions import study_conditions
    from shard.evaluation.decoding import Decoding, embedded_caption
    from shard.evaluation.evaluate import LabelMatcher, evaluate, labelling_labels, sentence_embedder
    from shard.prompts.synthesis import labelling_prompts

    clips = pl.DataFrame({"clip_id": ["c0", "c1", "c2"], "row": [0, 1, 2], "split": ["test"] * 3,
                          "labels": [["Dog"], ["Siren"], ["Church bell"]], "label": ["Dog", "Siren", "Church bell"]})
    write_parquet(clips, tmp_path / "clips.parquet")
    write_feature_set(tmp_path / "ltu_fbank.json", clips["clip_id"], np.stack(feats(3, 5)), "ltu_fbank")
    np.save(tmp_path / "silence.npy", feats(1, 9)[0])
    prompts = labelling_prompts(clips).with_columns(text=pl.lit(templates.to_original(templates.CAPTION.text)),
                                                    format=pl.lit("original"))
    write_parquet(prompts, tmp_path / "labelling.parquet")
    model = tiny_model_cfg(paths, generate={**LTU_SAMPLING, "max_new_tokens": 6, "seed": 0})
    settings = {"mode": "loglik", "batch_size": 2, "max_new_tokens": 4, "bootstrap": 100}
    condition = {c.name: c.as_dict() for c in study_conditions({}, False)}["original"]
    evaluate(prompts=str(tmp_path / "labelling.parquet"), clips_parquet=str(tmp_path / "clips.parquet"),
             features=str(tmp_path / "ltu_fbank.json"), silence=str(tmp_path / "silence.npy"),
             predictions=str(tmp_path / "out.jsonl"), summary=str(tmp_path / "out.json"), base_dir=paths["base"],
             model=model, evaluate=settings, condition=condition, task="labelling", threads=1)
    records = read_jsonl(tmp_path / "out.jsonl").to_dicts()
    assert json.loads((tmp_path / "out.json").read_text())["n"] == 3
    labels = labelling_labels(prompts, clips)
    ltu_text, stock_text = templates.AUDIO + LTU_INSTRUCTION, prompts["text"][0]
    fs = [[f] for f in feats(3, 5)]
    asked = [s for s, _ in sum(llm.option_logprobs([ltu_text] * 3, fs, "original", [labels] * 3), [])]
    stock = [s for s, _ in sum(llm.option_logprobs([stock_text] * 3, fs, "original", [labels] * 3), [])]
    got = sum((r["loglik_scores"] for r in records), [])
    assert np.allclose(got, asked, atol=1e-4) and not np.allclose(got, stock, atol=1e-2)
    decoding = Decoding(model, settings)
    captions = []
    for start in (0, 2):
        batch = prompts.slice(start, 2).with_columns(text=pl.lit(ltu_text))
        captions += decoding(llm, batch, fs[start:start + 2], "original")
    assert [r["generation"] for r in records] == captions
    sims = LabelMatcher(labels, sentence_embedder("cpu")).similarities([embedded_caption(c, ":") for c in captions])
    assert np.allclose([r["option_scores"] for r in records], sims, atol=1e-5)


STAGE4 = {"recipe": "authors", "train_on_prompt": True,
          "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"], "train_projector": False}}


def test_ltu_stage4_continues_ltus_lora_and_trains_the_audio_path(paths, llm, tmp_path):
    """finetune.recipe authors (src/ltu/finetune.py --trainable_params all): LTU's own LoRA, unmerged, is the adapter
    (it scores as the merged model), it trains with every 'audio' parameter and nothing of the LLaMA; the saved
    adapter loads back without LTU's LoRA merged under it."""
    from shard.common import write_json
    from shard.models.backends import authors_recipe
    from shard.models.finetune import TRAIN_CONFIG

    cfg = tiny_model_cfg(paths)
    tuned, params = authors_recipe(cfg, paths["base"], STAGE4)
    state = torch.load(paths["checkpoint"], weights_only=True)
    inner = tuned.model.base_model.model
    for i in range(2):
        for proj in ("q_proj", "v_proj"):
            key = f"base_model.model.model.layers.{i}.self_attn.{proj}"
            layer = inner.language_model.model.layers[i].self_attn.get_submodule(proj)
            assert torch.equal(layer.lora_A["default"].weight, state[f"{key}.lora_A.default.weight"])
            assert torch.equal(layer.lora_B["default"].weight, state[f"{key}.lora_B.default.weight"])
    fs = [feats(1, 1), feats(2, 2), feats(1, 3)]

    def scores(m):
        return np.concatenate(m.option_logprobs(PROMPTS, fs, "interleaved", OPTIONS))[:, 0]
    assert np.allclose(scores(tuned), scores(llm), atol=1e-4)  # unmerged LoRA == LTU's merged one
    trainable = {n for n, p in tuned.model.named_parameters() if p.requires_grad}
    assert all(".lora_" in n or ".modules_to_save.default." in n for n in trainable)
    assert {n.split(".")[2] for n in trainable if ".modules_to_save." in n} == {"audio_encoder", "projector"}
    audio = sum(p.numel() for n, p in llm.model.named_parameters() if n.startswith(("audio_encoder.", "projector.")))
    assert sum(p.numel() for p in params) == audio + 2 * 2 * 8 * (64 + 64)  # + r x (in + out) per q/v LoRA
    before = {n: p.detach().clone() for n, p in tuned.model.named_parameters()}
    opt = torch.optim.AdamW(params, lr=1e-2)
    tuned.model.train()
    batch = tuned.processor(PROMPTS, fs, "interleaved", answers=["yes", "dog", "no"])
    for _ in range(2):
        tuned.loss(batch).backward(); opt.step(); opt.zero_grad()
    changed = {n for n, p in tuned.model.named_parameters() if not torch.equal(p, before[n])}
    assert changed <= trainable and any("lora_A" in n for n in changed)
    assert any("audio_encoder" in n for n in changed) and any("projector" in n for n in changed)
    tuned.model.save_pretrained(tmp_path / "adapter")
    write_json({"finetune": STAGE4}, tmp_path / "adapter" / TRAIN_CONFIG)
    loaded = load_model(cfg, paths["base"], adapter_dir=str(tmp_path / "adapter"))
    assert np.allclose(scores(loaded), scores(tuned), atol=1e-4)
    assert not np.allclose(scores(loaded), scores(llm), atol=1e-3)


def test_ltu_stage4_needs_ltus_lora_shape_and_an_ltu_backend(paths):
    from shard.models.backends import authors_recipe

    other = {**STAGE4, "lora": {**STAGE4["lora"], "r": 4}}
    with pytest.raises(ShardError, match=r"continues LTU's own LoRA \(r 8, alpha 16"):
        authors_recipe(tiny_model_cfg(paths), paths["base"], other)
    with pytest.raises(ShardError, match="backend mini_ltu has no fine-tuning recipe"):
        authors_recipe({"backend": "mini_ltu", "device": "cpu"}, paths["base"], STAGE4)


def test_finetune_rule_runs_ltus_stage4_and_evaluation_loads_it(paths, tmp_path):
    """The finetune rule's function with finetune.recipe authors: the adapter it writes loads back (LTU's LoRA
    not merged under it) and scores as the model it trained."""
    import polars as pl

    from shard.common import write_parquet
    from shard.models.finetune import finetune

    clips = pl.DataFrame({"clip_id": ["c0", "c1", "c2"], "row": [0, 1, 2]})
    write_parquet(clips, tmp_path / "clips.parquet")
    write_feature_set(tmp_path / "ltu_fbank.json", clips["clip_id"], np.stack(feats(3, 7)), "ltu_fbank")
    texts = ["<audio>Is the sound a dog ?", "<audio>Is the sound a siren ?", "<audio>Is the sound a bell ?"]
    write_parquet(pl.DataFrame({"prompt_id": ["p0", "p1", "p2"], "clip_ids": [["c0"], ["c1"], ["c2"]], "text": texts,
                                "answer": ["yes", "no", "yes"], "task": ["semantic"] * 3, "relation": ["x"] * 3,
                                "format": ["original"] * 3, "question_format": ["yesno"] * 3}),
                  tmp_path / "train.parquet")
    settings = {**STAGE4, "epochs": 1, "max_steps": 2, "batch_size": 2, "grad_accum": 1, "lr": 1e-2,
                "warmup_steps": 0, "grad_clip": 1.0, "checkpoint_every": 100}
    cfg = tiny_model_cfg(paths)
    finetune(base_dir=paths["base"], prompts=str(tmp_path / "train.parquet"), clips_parquet=str(tmp_path / "clips.parquet"),
             features=str(tmp_path / "ltu_fbank.json"), adapter_dir=str(tmp_path / "ft"), finetune=settings, model=cfg,
             seed=0, threads=1)
    loaded = load_model(cfg, paths["base"], adapter_dir=str(tmp_path / "ft"))
    trained = {n.replace(".default", ""): p for n, p in loaded.model.named_parameters()
               if ".modules_to_save." in n or ".lora_" in n}
    assert any("audio_encoder" in n for n in trained) and any("projector" in n for n in trained)
    # the loaded LoRA is the trained continuation of LTU's (A moved from the checkpoint's), and it is not
    # merged on top of LTU's: the q weights are the base LLaMA's
    from transformers import LlamaForCausalLM

    base_q = LlamaForCausalLM.from_pretrained(paths["base"]).model.layers[0].self_attn.q_proj.weight
    q = loaded.model.base_model.model.language_model.model.layers[0].self_attn.q_proj
    assert torch.equal(q.base_layer.weight, base_q)
    state = torch.load(paths["checkpoint"], weights_only=True)
    a = state["base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight"]
    assert not torch.equal(q.lora_A["default"].weight, a) and torch.allclose(q.lora_A["default"].weight, a, atol=0.2)
