"""Pretraining and LoRA fine-tuning on tiny data: outputs, learning, adapter format, resume after kill -9."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from safetensors.torch import load_file

from shard.prompts import templates
from shard.models import load_model
from shard.evaluation.evaluate import base_metrics
from shard.models.finetune import finetune, lora_config
from shard.models.pretrain import pretrain_base
from shard.dataset import items
from shard.dataset.items import unknown_synsets
from shard.prompts.synthesis import (OPEN, audio_pretrain_prompts, build_pretrain_prompts, corpus_captions,
                                      fact_pretrain_prompts)

from tests.fixtures import write_feature_set
from tests.interrupt import interrupt_env
from tests.test_models import N_FRAMES, N_MELS, PROMPTS, feats, tiny_llm

LABELS = ["Dog", "Church bell", "Siren"]
ROLES = {label: "source" for label in LABELS}  # dogs, bells and sirens make sounds
PRETRAIN = {"hidden_size": 32, "layers": 2, "heads": 2, "audio_tokens": 3, "vocab_size": 100,
            "projector_epochs": 1, "epochs": 6, "batch_size": 8, "lr": 3e-3, "fact_repeats": 2}
MODEL = {"backend": "mini_ltu", "base": None, "frontend": "logmel", "device": "cpu"}
FINETUNE = {"lora": {"r": 4, "alpha": 8, "dropout": 0.05, "target_modules": ["q_proj", "v_proj"],
                     "train_projector": False},
            "epochs": 1, "max_steps": 6, "batch_size": 4, "grad_accum": 2, "lr": 1e-3, "warmup_steps": 2,
            "grad_clip": 1.0, "checkpoint_every": 2, "train_on_prompt": False}


def write_tiny_data(root: Path) -> dict[str, str]:
    """3 labels x 8 clips (class-dependent random log-mels), WordNet-like words, interleaved training prompts."""
    g = np.random.default_rng(0)
    means = g.normal(0, 2, (len(LABELS), N_MELS, 1))
    rows, arrays = [], []
    for li, label in enumerate(LABELS):
        for k in range(8):
            arrays.append((means[li] + g.normal(0, 0.5, (N_MELS, N_FRAMES))).astype(np.float16))
            rows.append({"clip_id": f"{label.replace(' ', '_').lower()}_{k}", "label": label,
                         "split": "test" if k >= 6 else "train", "row": len(rows)})
    clips = pl.DataFrame(rows).sort("clip_id")
    paths = {"clips_parquet": str(root / "clips.parquet"), "features": str(root / "logmel.json"),
             "words": str(root / "words.parquet"), "prompts": str(root / "train_24.parquet")}
    clips.write_parquet(paths["clips_parquet"])
    write_feature_set(Path(paths["features"]), clips.sort("row")["clip_id"], np.stack(arrays))
    facts = {"Dog": (["canine", "hound"], ["device"]), "Church bell": (["bell"], ["canine"]),
             "Siren": (["alarm", "signal"], ["hound"])}
    words = [{"label": l, "synset": f"{l.lower().replace(' ', '_')}.n.01", "word": w, "relation": "hypernym",
              "related": ok} for l, (yes, no) in facts.items() for ok, ws in ((True, yes), (False, no)) for w in ws]
    pl.DataFrame(words).write_parquet(paths["words"])
    paths["label_synsets"] = str(root / "label_synsets.parquet")
    pl.DataFrame({"label": LABELS, "synset": [f"{l.lower().replace(' ', '_')}.n.01" for l in LABELS],
                  "lexname": ["noun.animal", "noun.artifact", "noun.artifact"]}).write_parquet(paths["label_synsets"])
    train = clips.filter(pl.col("split") == "train")
    prompts = []
    for i in range(24):
        a, b = train.row(i % train.height, named=True), train.row((5 * i + 3) % train.height, named=True)
        two = i % 4 == 0
        prompts.append({"prompt_id": f"p{i:03d}", "clip_ids": [a["clip_id"], b["clip_id"]] if two else [a["clip_id"]],
                        "text": templates.COMPARE.text if two else "Is <audio> a kind of canine?",
                        "answer": ("yes" if a["label"] == b["label"] else "no") if two
                        else ("yes" if a["label"] == "Dog" else "no"),
                        "task": "compare" if two else "semantic", "relation": None if two else "hypernym",
                        "format": "interleaved", "question_format": "yesno"})
    pl.DataFrame(prompts, schema_overrides={"relation": pl.String}).write_parquet(paths["prompts"])
    return paths


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_tiny_data(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def base(data, tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    build_pretrain_prompts(clips_parquet=data["clips_parquet"], words=data["words"], label_synsets=data["label_synsets"],
                           out=str(root / "pretrain.parquet"), labels=str(root / "pretrain_labels.parquet"), seed=0,
                           unknown_label_fraction=0.0)
    pretrain_base(prompts=str(root / "pretrain.parquet"), clips_parquet=data["clips_parquet"], features=data["features"],
                  words=data["words"], base_dir=str(root / "base"), pretrain=PRETRAIN, model=MODEL, seed=0, threads=1)
    return str(root / "base")


def read_log(path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


# ---------------------------------------------------------------- pretraining
def test_pretraining_prompts_are_train_clips_original_format_and_text_facts(data):
    clips = pl.read_parquet(data["clips_parquet"])
    train = clips.filter(pl.col("split") == "train")
    audio = audio_pretrain_prompts(clips, seed=0)
    assert set(audio["clip_ids"].explode()) == set(train["clip_id"])
    assert all(t.startswith(templates.AUDIO) and t.count(templates.AUDIO) == 1 for t in audio["text"])
    qa = audio.filter(pl.col("task") == "label_qa")["answer"].to_list()
    assert qa.count("yes") == qa.count("no") == train.height // 2
    assert set(audio.filter(pl.col("task") == "labelling")["text"]) == {templates.to_original(templates.CAPTION.text)}
    # a caption prompt offers every primary label, kept once (clips.parquet), not in each row
    captions, labels = audio.filter(pl.col("task") == "labelling"), corpus_captions(clips, "label")
    assert captions["options"].is_null().all() and len(labels) == clips["label"].n_unique()
    assert all(labels[i] == a for i, a in zip(captions["answer_index"], captions["answer"]))
    facts = fact_pretrain_prompts(pl.read_parquet(data["words"]), ROLES, set(LABELS), seed=0)
    assert not any(templates.AUDIO in t for t in facts["text"]) and (facts["clip_ids"].list.len() == 0).all()
    worded = facts.filter(pl.col("template_id").str.starts_with("fact."))["question_format"].to_list()
    assert worded.count("yesno") == 8 and worded.count("mc4") == 5 and worded.count(OPEN) == 5
    assert "Is dog a kind of canine?" in facts["text"].to_list()  # one renderer fills {a} and {b}
    # each fact also in the SHARD wordings but the held-out one: 2 of 3 yes/no paraphrases, 1 of 2 mc4 (and open);
    # a 4-way fact (and its open form) in the 3 pretraining-only paraphrases of its question type too
    assert facts.height == 8 * 3 + 5 * 2 * (2 + 3)
    assert "Is the thing making the sound of dog a kind of canine?" in facts["text"].to_list()
    assert "What kind of thing is making the sound of dog?" in facts["text"].to_list()
    for t, a, f, o in facts.select("text", "answer", "question_format", "options").iter_rows():
        if f == "mc4":
            listed = t.split(" Options: ")[1].rstrip(".").split(", ")
            assert len(listed) == 4 and a in listed
            assert o == listed  # the options carried as data are the ones the question lists
        elif f == OPEN:  # the 4-way question without its options
            assert o is None and "Options:" not in t
        else:
            assert o == [templates.YES, templates.NO] and "Options:" not in t
    # the open form of each 4-way fact asks exactly its question, options left out
    mc, open_ = (facts.filter(pl.col("question_format") == f).sort("prompt_id") for f in ("mc4", OPEN))
    assert [t.split(" Options: ")[0] for t in mc["text"]] == open_["text"].to_list()
    assert mc["answer"].to_list() == open_["answer"].to_list()


def test_no_fact_answer_can_be_guessed_without_its_label(data):
    """As in the counterbalanced SHARD items: each word is as often a yes as a no over the yes/no facts (the rarer
    answer's facts weigh more), and a 4-way fact's distractors are other labels' related words, never its own."""
    words = pl.read_parquet(data["words"])
    # canine: a yes for Dog, a no for Church bell and (added here) Siren
    words = pl.concat([words, words.filter(pl.col("label") == "Siren").head(1).with_columns(
        word=pl.lit("canine"), related=pl.lit(False))])
    facts = fact_pretrain_prompts(words, ROLES, set(LABELS), seed=0).with_columns(
        label=pl.col("prompt_id").str.split(".").list.get(1), word=pl.col("prompt_id").str.split(".").list.get(2))
    assert (facts.filter(pl.col("question_format") != "yesno")["weight"] == 1).all()
    yesno = facts.filter(pl.col("question_format") == "yesno")
    assert set(yesno.filter(pl.col("weight") > 1)["prompt_id"].str.split(".").list.get(2)) == {"canine"}
    totals = yesno.group_by("word", "template_id").agg(
        yes=pl.col("weight").filter(pl.col("answer") == templates.YES).sum(),
        no=pl.col("weight").filter(pl.col("answer") == templates.NO).sum())
    both = totals.filter((pl.col("yes") > 0) & (pl.col("no") > 0))
    assert both.height and (both["yes"] - both["no"]).abs().max() < 1e-9
    related = {label: set(g["word"]) for (label,), g in words.filter("related").group_by("label")}
    for label, answer, options in facts.filter(pl.col("question_format") == "mc4").select(
            "label", "answer", "options").iter_rows():
        for option in set(options) - {answer}:
            assert option not in related[label] and any(option in related[other] for other in related if other != label)
    # each wording of a 4-way fact draws its own distractors, so a fact is met with several option sets (a fixed
    # set is learnt as that set's answer): with Bird's words in the pool, Dog's facts get more than one set
    bird = pl.DataFrame({"label": ["Bird"] * 2, "synset": ["bird.n.01"] * 2, "word": ["animal", "vertebrate"],
                         "relation": ["hypernym"] * 2, "related": [True, True]})
    mc = fact_pretrain_prompts(pl.concat([words, bird], how="diagonal_relaxed"), ROLES, set(LABELS), seed=0).filter(
        pl.col("question_format") == "mc4")
    option_sets = mc.group_by(fact=pl.col("prompt_id").str.split(".").list.slice(1, 2).list.join(".")).agg(
        sets=pl.col("options").list.sort().list.join(",").n_unique(), wordings=pl.len())
    assert option_sets.filter(pl.col("fact") == "Dog.canine").select("sets", "wordings").row(0) == (5, 5)
    # one label: no other label's words to offer, so its 4-way facts list the answer alone
    alone = fact_pretrain_prompts(words.filter(pl.col("label") == "Dog"), ROLES, {"Dog"}, seed=0)
    assert sorted(alone.filter(pl.col("question_format") == "mc4")["options"].to_list()) == [["canine"]] * 5 + [["hound"]] * 5


def test_shard_wordings_are_the_text_oracles_and_leave_one_paraphrase_out(data):
    """A fact in a SHARD wording is the text the text_oracle condition scores for that question (the label in place
    of <audio>); the held-out paraphrase of each question type is never written."""
    words = pl.read_parquet(data["words"])
    facts = fact_pretrain_prompts(words, ROLES, set(LABELS), seed=0)
    held_out = {templates.held_out_template("hypernym", ROLES[l], fmt).id for l in LABELS for fmt in ("yesno", "mc4")}
    assert held_out == {"hypernym.source.yesno.2", "hypernym.source.mc4.1"}
    assert not set(facts["template_id"]) & held_out
    # the pretraining-only paraphrases are other wordings than every SHARD question's, held out or not
    shard_texts = {t.text for t in templates.all_templates() if t.task == "semantic"}
    paraphrases = [t for t in templates.all_templates() if t.id.startswith("paraphrase.")]
    assert paraphrases and not {t.text for t in paraphrases} & shard_texts
    texts = set(facts["text"])
    written = {(t, f) for t, f in facts.select("template_id", "question_format").iter_rows()}
    for label, word, fmt, options, template_id in facts.select(
            pl.col("prompt_id").str.split(".").list.get(1).alias("label"),
            pl.col("prompt_id").str.split(".").list.get(2).alias("word"),
            "question_format", "options", "template_id").iter_rows():
        asked = "" if fmt == "mc4" else word
        for t in templates.semantic_templates("hypernym", ROLES[label], fmt):
            # a 4-way fact's options are drawn per wording: its own wording's row is the oracle's text
            if fmt == "mc4" and t.id != template_id:
                assert (t.id, fmt) in written or t.id in held_out
                continue
            oracle = templates.labels_in_place(templates.render_one(t.text, options if fmt == "mc4" else None,
                                                                    word=asked), [[label]])
            assert (oracle in texts) == (t.id not in held_out), (t.id, oracle)


def test_unknown_labels_get_no_fact_and_their_choice_is_seeded(data, tmp_path, monkeypatch, caplog):
    synsets = pl.read_parquet(data["label_synsets"])["synset"]
    # 3 labels: a side of 1 or 2 could form no 4-way group, so no label is left unknown, with a warning
    assert unknown_synsets(synsets, 0.34, 0) == set() and "negative control is off" in caplog.text
    monkeypatch.setattr(items, "MIN_SIDE", 1)  # the draw itself, on these 3 labels
    out = dict(out=tmp_path / "p.parquet", labels=tmp_path / "l.parquet")
    build_pretrain_prompts(clips_parquet=data["clips_parquet"], words=data["words"], label_synsets=data["label_synsets"],
                           seed=0, unknown_label_fraction=0.34, **out)
    known = pl.read_parquet(out["labels"])
    assert known["label"].to_list() == sorted(LABELS) and known.filter(~pl.col("known")).height == 1  # round(0.34 * 3)
    unknown = known.filter(~pl.col("known"))["label"][0]
    prompts = pl.read_parquet(out["out"])
    facts = prompts.filter(pl.col("task") == "fact")
    assert facts.height and not facts["prompt_id"].str.starts_with(f"fact.{unknown}.").any()
    assert not facts["text"].str.contains(templates.label_as_text([unknown])).any()
    assert not facts["text"].str.contains(f"^(Is )?{templates.caption_answer(unknown)} ").any()
    # its clips are still labelled in pretraining: perception is taught, its facts are not
    assert (prompts.filter(pl.col("task") == "labelling")["answer"] == templates.caption_answer(unknown)).any()
    # by synset, fixed by the seed, whatever the order; 0 and 1 take none and all
    draw = lambda s, f=0.34, seed=0: unknown_synsets(s, f, seed)  # noqa: E731
    assert draw(synsets) == draw(synsets.reverse()) == draw(synsets.sample(fraction=1.0, shuffle=True, seed=3))
    assert draw([*synsets, *synsets, None]) == draw(synsets)
    assert {frozenset(draw(synsets, seed=s)) for s in range(8)} != {frozenset(draw(synsets))}
    assert draw(synsets, 0.0) == set() and draw(synsets, 1.0) == set(synsets)


def test_pretraining_writes_a_loadable_base_that_learned(data, base, tmp_path):
    files = {p.name for p in Path(base).iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "train_log.csv", "train_config.json"} <= files
    log = read_log(Path(base) / "train_log.csv")
    assert set(log[0]) == {"stage", "step", "loss", "lr", "tokens"}  # nothing that depends on the clock
    assert {r["stage"] for r in log} == {"pretrain_projector", "pretrain_all"}
    losses = [float(r["loss"]) for r in log if r["stage"] == "pretrain_all"]
    assert np.mean(losses[-3:]) < 0.6 * np.mean(losses[:3])
    llm = load_model(MODEL, base)
    assert llm.processor.tokenizer.unk_token_id not in llm.processor.encode_answer("church bell canine alarm")
    # scored by the evaluation code, on exactly the pretraining prompts
    out = tmp_path / "base_model.json"
    base_metrics(prompts=str(Path(base).parent / "pretrain.parquet"), clips_parquet=data["clips_parquet"],
                 features=data["features"], base_dir=base, metrics=str(out), model=MODEL,
                 evaluate={"batch_size": 16, "max_new_tokens": 4}, seed=0, threads=1)
    metrics = json.loads(out.read_text())
    assert {"labelling_train", "label_qa", "facts_yesno", "facts_mc4", "model"} <= set(metrics)
    assert [metrics[k]["n"] for k in ("labelling_train", "label_qa", "facts_yesno", "facts_mc4")] == [18, 18, 8, 5]
    assert metrics["labelling_train"]["chance"] == pytest.approx(1 / 3) and metrics["facts_mc4"]["chance"] == 0.25
    assert all(0 <= metrics[k]["acc"] <= 1 for k in ("labelling_train", "label_qa", "facts_yesno", "facts_mc4"))


def test_loss_decreases_on_a_tiny_run():
    from shard.models.train import Examples, train_loop

    llm = tiny_llm()
    fs = {f"c{i}": f for i, f in enumerate(feats(4))}
    data = Examples(["Is <audio> a dog ?"] * 4, [[c] for c in fs], ["yes", "no", "yes", "no"], "interleaved",
                    lambda ids: [fs[c] for c in ids])
    rows = train_loop(llm, data, list(llm.model.parameters()), epochs=40, max_steps=None, batch_size=4,
                      grad_accum=1, lr=1e-2, warmup_steps=1, grad_clip=1.0, seed=0, stage="t")
    assert rows[-1]["loss"] < 0.5 * rows[0]["loss"]


# ---------------------------------------------------------------- LoRA
def test_lora_wraps_only_the_language_model():
    from peft import get_peft_model

    llm = tiny_llm()
    assert isinstance(llm.model.audio_encoder.attn.q_proj, torch.nn.Linear)  # same name as the LM's projections
    peft_model = get_peft_model(llm.model, lora_config(FINETUNE["lora"]))
    wrapped = {n.rsplit(".lora_A", 1)[0] for n, _ in peft_model.named_modules() if n.endswith(".lora_A")}
    assert wrapped and all(".language_model." in n and n.endswith(("q_proj", "v_proj")) for n in wrapped)
    assert len(wrapped) == 2 * 2  # 2 layers x (q_proj, v_proj)
    assert not any("lora_" in n for n, _ in peft_model.named_modules() if "audio_encoder" in n)
    trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    with_projector = get_peft_model(tiny_llm().model, lora_config({**FINETUNE["lora"], "train_projector": True}))
    assert any("projector" in n for n, p in with_projector.named_parameters() if p.requires_grad)


def test_adapter_round_trip_gives_identical_logits(tmp_path):
    from peft import PeftModel, get_peft_model

    llm = tiny_llm()
    llm.model = get_peft_model(llm.model, lora_config(FINETUNE["lora"]))
    with torch.no_grad():  # lora_B starts at zero: make the adapter matter
        for n, p in llm.model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)
    llm.model.eval()
    b = llm.processor(PROMPTS[:1], [feats(1)], "interleaved")
    with torch.no_grad():
        before = llm.model(**b).logits
        llm.model.save_pretrained(tmp_path)
        assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in tmp_path.iterdir()}
        loaded = PeftModel.from_pretrained(tiny_llm().model, tmp_path).eval()
        assert torch.equal(loaded(**b).logits, before)
        assert not torch.allclose(tiny_llm().model(**b).logits, before)


def run_finetune(data, base, adapter_dir, **overrides):
    finetune(base_dir=base, prompts=data["prompts"], clips_parquet=data["clips_parquet"], features=data["features"],
             adapter_dir=str(adapter_dir), finetune={**FINETUNE, **overrides}, model=MODEL, seed=0, threads=1)


def test_finetune_writes_a_peft_adapter(data, base, tmp_path):
    adapter = tmp_path / "ft_24"
    run_finetune(data, base, adapter)
    assert {"adapter_config.json", "adapter_model.safetensors", "train_log.csv", "train_config.json"} <= \
        {p.name for p in adapter.iterdir()}
    assert not Path(str(adapter) + ".ckpt").exists()
    assert [int(r["step"]) for r in read_log(adapter / "train_log.csv")] == list(range(1, 7))
    assert json.loads((adapter / "train_config.json").read_text())["finetune"]["max_steps"] == 6
    tuned, plain = load_model(MODEL, base, str(adapter)), load_model(MODEL, base)
    fs = [feats(1)]
    assert tuned.option_logprobs(PROMPTS[:1], fs, "interleaved", [["yes", "no"]]) != \
        plain.option_logprobs(PROMPTS[:1], fs, "interleaved", [["yes", "no"]])


def finetune_process(data, base, adapter_dir, prompts: str, kill_after: int | None = None, processes: int = 1,
                     **overrides):
    """The `finetune` rule's command in a fresh process (so it can be SIGKILLed): `python -m shard.models.finetune`,
    under torchrun when processes > 1, exactly as rules/train.smk launches it."""
    launch = [sys.executable] + (["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
                                 if processes > 1 else [])
    settings = json.dumps({"finetune": {**FINETUNE, **overrides, "processes": processes}, "model": MODEL, "seed": 0,
                           "order": "mixed"})
    cmd = [*launch, "-m", "shard.models.finetune", "--base-dir", base, "--prompts", prompts, "--clips", data["clips_parquet"],
           "--features", data["features"], "--adapter-dir", str(adapter_dir), "--settings", settings,
           "--threads", str(processes)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if kill_after is not None:
        env = interrupt_env("kill", kill_after, env)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def test_resume_after_kill_is_bit_identical(data, base, tmp_path):
    whole = tmp_path / "whole" / "ft_24"
    run_finetune(data, base, whole)

    resumed = tmp_path / "resumed" / "ft_24"
    killed = finetune_process(data, base, resumed, data["prompts"], kill_after=4)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    ckpt = Path(str(resumed) + ".ckpt")
    assert [p.name for p in ckpt.iterdir()] == ["step_00000004"] and not resumed.exists()

    done = finetune_process(data, base, resumed, data["prompts"])
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resumed finetune" in done.stderr
    a, b = load_file(whole / "adapter_model.safetensors"), load_file(resumed / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (whole / "adapter_model.safetensors").read_bytes() == (resumed / "adapter_model.safetensors").read_bytes()
    assert [r["loss"] for r in read_log(whole / "train_log.csv")] == [r["loss"] for r in read_log(resumed / "train_log.csv")]
    assert not ckpt.exists()


def test_changed_prompts_do_not_resume_a_stale_checkpoint(data, base, tmp_path):
    # same prompt ids, flipped answers: only the file's content tells the two runs apart
    flipped = str(tmp_path / "train_24.parquet")
    (pl.read_parquet(data["prompts"]).with_columns(pl.when(pl.col("answer") == "yes").then(pl.lit("no"))
                                                   .otherwise(pl.lit("yes")).alias("answer"))
     .write_parquet(flipped))
    whole = tmp_path / "whole" / "ft_24"
    run_finetune({**data, "prompts": flipped}, base, whole)

    adapter = tmp_path / "killed" / "ft_24"
    killed = finetune_process(data, base, adapter, data["prompts"], kill_after=4)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert (Path(str(adapter) + ".ckpt") / "step_00000004").is_dir()

    done = finetune_process(data, base, adapter, flipped)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "stale checkpoint" in done.stderr and "resumed finetune" not in done.stderr
    assert (whole / "adapter_model.safetensors").read_bytes() == (adapter / "adapter_model.safetensors").read_bytes()
    assert [r["loss"] for r in read_log(whole / "train_log.csv")] == [r["loss"] for r in read_log(adapter / "train_log.csv")]


def test_curriculum_orders_each_epoch_by_phase():
    """A curriculum: phase 0 (the replayed labelling prompts) first, then phase 1, each phase shuffled by the seed."""
    import numpy as np

    from shard.common import rng
    from shard.models.train import epoch_order

    phases = np.array([1, 0, 1, 1, 0, 1, 0, 1])
    order = epoch_order(8, rng(0, "finetune", "epoch", 0), phases)
    assert sorted(order) == list(range(8)) and list(phases[order]) == [0, 0, 0, 1, 1, 1, 1, 1]
    mixed = epoch_order(8, rng(0, "finetune", "epoch", 0))
    assert list(order[:3]) == [i for i in mixed if phases[i] == 0]  # the same shuffle, grouped by phase
    assert list(epoch_order(8, rng(0, "finetune", "epoch", 0), phases)) == list(order)


def test_length_bucketing_pads_less_and_keeps_the_epoch_a_permutation():
    """Length bucketing (epoch_order with `lengths`): every example once per epoch, the same order for the same
    seed, micro-batches of like length (far less padding than the plain shuffle), a curriculum's phases in order."""
    import numpy as np

    from shard.common import rng
    from shard.models import train
    from shard.models.train import epoch_order

    n, size = 1000, 8
    lengths = np.asarray(rng(0, "lengths").integers(10, 60, n))

    def padded(order):
        return sum(len(b) * lengths[b].max() for b in (order[i:i + size] for i in range(0, n, size)))

    bucketed = epoch_order(n, rng(0, "pretrain", "epoch", 0), lengths=lengths, batch_size=size)
    plain = epoch_order(n, rng(0, "pretrain", "epoch", 0))
    assert sorted(bucketed) == list(range(n))
    assert list(epoch_order(n, rng(0, "pretrain", "epoch", 0), lengths=lengths, batch_size=size)) == list(bucketed)
    assert padded(bucketed) < 1.1 * lengths.sum() < 1.3 * lengths.sum() < padded(plain)
    # the micro-batches are shuffled: not every window runs from short to long
    firsts = lengths[bucketed[:train.BUCKET_WINDOW * size:size]]
    assert not np.all(np.diff(firsts) >= 0)
    phases = (np.arange(n) % 3 == 0).astype(np.int8)
    curriculum = epoch_order(n, rng(0, "finetune", "epoch", 0), phases, lengths, size)
    assert sorted(curriculum) == list(range(n)) and np.all(np.diff(phases[curriculum]) >= 0)
