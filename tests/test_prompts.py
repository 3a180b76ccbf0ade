"""Prompt synthesis: formats, answer correctness under redraws, balance, determinism, leakage audit."""
from __future__ import annotations

import hashlib

import numpy as np
import polars as pl
import pytest

from shard import common
from shard.prompts import synthesis, templates
from shard.common import ShardError
from shard.dataset.relations import RELATIONS
from shard.prompts.synthesis import (assemble_train_prompts, build_eval_prompts, build_train_prompts,
                           leakage_audit, plan_train_prompts, pool_rows)

LABELS = {"Dog": ("dog.n.01", "canine"), "Piano": ("piano.n.01", "keyboard instrument"),
          "Thunder": ("thunder.n.01", "sound")}


def make_pool(n_clips_per_label: int = 4, split: str = "train") -> pl.DataFrame:
    rows = []
    for li, (label, (synset, hyper)) in enumerate(LABELS.items()):
        role = "event" if label == "Thunder" else "source"
        for c in range(n_clips_per_label):
            clip = f"{split}_{label.lower()}_{c}"
            for fmt in ("yesno", "mc4"):
                if fmt == "yesno":
                    options, answer, cand = ["yes", "no"], ("yes" if c % 2 == 0 else "no"), (hyper if c % 2 == 0 else "vehicle")
                else:
                    options = [hyper, "vehicle", "tree", "fish"]
                    answer, cand = hyper, hyper
                q = templates.render_one(templates.semantic_templates("hypernym", role, fmt)[0].text,
                                 options if fmt == "mc4" else None, word=cand)
                rows.append(dict(item_id=f"{clip}.hypernym.{fmt}.0", clip_id=clip, label=label, synset=synset,
                                 relation="hypernym", format=fmt, template_id=f"hypernym.{role}.{fmt}.0",
                                 question=q, options=options, answer=answer,
                                 answer_index=options.index(answer), candidate=cand, source_kind=role))
    return pl.DataFrame(rows)


def make_clips(pool: pl.DataFrame, test: pl.DataFrame) -> pl.DataFrame:
    both = pl.concat([pool.select("clip_id", "label").unique().with_columns(pl.lit("train").alias("split")),
                      test.select("clip_id", "label").unique().with_columns(pl.lit("test").alias("split"))])
    return both.sort("clip_id").with_columns(pl.concat_list("label").alias("labels"))


def test_eval_prompts_both_formats(tmp_path):
    test = make_pool(2, split="test")
    clips = make_clips(make_pool(2), test)
    test.write_parquet(tmp_path / "test.parquet")
    clips.write_parquet(tmp_path / "clips.parquet")
    out = {k: tmp_path / f"{k}.parquet" for k in
           ("semantic_original", "semantic_interleaved", "labelling_original", "labelling_interleaved")}
    build_eval_prompts(test=tmp_path / "test.parquet", clips_parquet=tmp_path / "clips.parquet", **out)
    orig, inter = pl.read_parquet(out["semantic_original"]), pl.read_parquet(out["semantic_interleaved"])
    assert orig.height == inter.height == test.height
    assert orig["prompt_id"].to_list() == inter["prompt_id"].to_list()
    # original: audio block first, the text refers to "the sound"; interleaved: placeholder inside
    assert all(t.startswith(templates.AUDIO) and t.count(templates.AUDIO) == 1 and "the sound" in t.lower()
               for t in orig["text"])
    assert all(templates.AUDIO in t and not t.startswith(templates.AUDIO + "Is") for t in inter["text"])
    assert inter["text"].to_list() == test["question"].to_list()
    lab = pl.read_parquet(out["labelling_interleaved"])
    assert lab.height == clips.filter(pl.col("split") == "test").height
    # the label list is kept once, in clips.parquet, not in every row: answer_index points into it
    assert lab["options"].is_null().all()
    labels = synthesis.corpus_captions(pl.scan_parquet(tmp_path / "clips.parquet"))
    assert labels == ["dog", "piano", "thunder"]
    assert all(labels[i] == a for i, a in zip(lab["answer_index"], lab["answer"]))
    assert lab["answer"].to_list() == [templates.caption_answer(l) for l in
                                       clips.filter(pl.col("split") == "test").sort("clip_id")["label"]]
    assert set(pl.read_parquet(out["labelling_original"])["text"]) == {"<audio>Write an audio caption describing the sound."}


def test_corpus_captions_are_every_label_once_or_every_primary_label():
    clips = pl.DataFrame({"clip_id": ["a", "b", "c"], "label": ["Dog", "Piano", "Dog"],
                          "labels": [["Dog", "Bark"], ["Piano"], ["Dog", "Church bell"]]})
    assert synthesis.corpus_captions(clips) == ["bark", "church bell", "dog", "piano"]
    assert synthesis.corpus_captions(clips.lazy(), "label") == ["dog", "piano"]
    assert synthesis.caption_options(["Dog", "dog", "Bell"]) == ["bell", "dog"]


def test_train_prompts_keep_answers_right_and_balanced():
    pool = make_pool(6)
    plan = plan_train_prompts(pool, make_clips(pool, pool.head(0)), 20000, seed=3, replay_fraction=0.1,
                              multi_clip_fraction=0.1)
    df = assemble_train_prompts(pool, plan, prefix="20k")
    assert df.height == 20000 and df["prompt_id"].n_unique() == 20000
    clip_label = dict(zip(pool["clip_id"], pool["label"]))
    # every placeholder has its clip, and every clip comes from the pool
    assert (df["text"].str.count_matches(templates.AUDIO, literal=True) == df["clip_ids"].list.len()).all()
    assert set(df["clip_ids"].explode()) <= set(pool["clip_id"])
    shard = df.filter(pl.col("task") == "semantic").with_columns(pl.col("clip_ids").list.first().alias("clip"))
    # a redrawn clip keeps its label, so the pool's answer stays right: yes exactly for the true hypernym
    for clip, text, answer in shard.filter(pl.col("question_format") == "yesno").select("clip", "text", "answer").rows():
        synset, hyper = LABELS[clip_label[clip]]
        assert (answer == "yes") == (hyper in text)
    mc = shard.filter(pl.col("question_format") == "mc4")
    positions = [text.split("Options: ")[1].rstrip(".").split(", ").index(ans) for text, ans in mc.select("text", "answer").rows()]
    counts = np.bincount(positions, minlength=4) / len(positions)
    assert np.all(np.abs(counts - 0.25) < 0.02), counts
    tasks = df["task"].value_counts().sort("task")
    share = dict(zip(tasks["task"], tasks["count"] / df.height))
    assert abs(share["labelling"] - 0.1) < 0.01 and abs(share["compare"] - 0.1) < 0.01
    comp = df.filter(pl.col("task") == "compare")
    for (a, b), ans in zip(comp["clip_ids"].to_list(), comp["answer"]):
        assert (ans == "yes") == (clip_label[a] == clip_label[b])
    for (clip,), ans in df.filter(pl.col("task") == "labelling").select("clip_ids", "answer").rows():
        assert ans == templates.caption_answer(clip_label[clip])


def test_redrawn_clips_keep_their_label_set():
    """On a multi-label corpus a clip is swapped only for one with the same labels, so a 'no' checked
    against all of a clip's labels stays right; two clips count as the same only with the same labels."""
    pool = make_pool(4)
    clips = make_clips(pool, pool.head(0)).with_columns(
        pl.when(pl.col("clip_id").str.ends_with("_0") | pl.col("clip_id").str.ends_with("_1"))
        .then(pl.concat_list("label", pl.lit("Rain"))).otherwise(pl.col("labels")).alias("labels"))
    labels_of = {c: tuple(sorted(ls)) for c, ls in clips.select("clip_id", "labels").rows()}
    plan = plan_train_prompts(pool, clips, 5000, seed=0, replay_fraction=0.0, multi_clip_fraction=0.2)
    df = assemble_train_prompts(pool, plan, prefix="5k")
    item_clip = pool["clip_id"].to_numpy()[plan["item"]]
    drawn = plan["clip_ids"][plan["clip"]]
    assert all(labels_of[a] == labels_of[b] for a, b in zip(item_clip, drawn))
    assert len(set(zip(item_clip, drawn)) - {(a, a) for a in item_clip}) > 0  # clips really are redrawn
    for (a, b), ans in df.filter(pl.col("task") == "compare").select("clip_ids", "answer").rows():
        assert (ans == "yes") == (labels_of[a] == labels_of[b])


def test_train_prompts_deterministic(tmp_path):
    make_pool(3).write_parquet(tmp_path / "pool.parquet")
    make_clips(make_pool(3), make_pool(3).head(0)).write_parquet(tmp_path / "clips.parquet")
    digests = []
    for run in range(2):
        out = tmp_path / f"train{run}.parquet"
        build_train_prompts(train_pool=tmp_path / "pool.parquet", clips_parquet=tmp_path / "clips.parquet", out=out, n=500, seed=0,
                            replay_fraction=0.0, multi_clip_fraction=0.0, name="500")
        digests.append(hashlib.sha1(out.read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    build_train_prompts(train_pool=tmp_path / "pool.parquet", clips_parquet=tmp_path / "clips.parquet", out=tmp_path / "other.parquet", n=500, seed=1,
                        replay_fraction=0.0, multi_clip_fraction=0.0, name="500")
    assert hashlib.sha1((tmp_path / "other.parquet").read_bytes()).hexdigest() != digests[0]


def small_slices(monkeypatch):
    """Scan in slices of 9 rows, so that a small pool spans several."""
    monkeypatch.setattr(common, "SLICE_ROWS", 9)
    monkeypatch.setattr(synthesis, "SLICE_ROWS", 9)


def test_pool_rows_from_a_scan_are_an_in_memory_take(tmp_path, monkeypatch):
    """The drawn-rows reader keeps only the rows asked for, a slice of the scan at a time; they are the rows an
    in-memory take gives, in the order asked (repeats too), whichever slice and row group they sit in."""
    pool = pl.concat([make_pool(5).with_columns(pl.col("clip_id") + f"_{k}") for k in range(4)])
    pool.write_parquet(tmp_path / "pool.parquet", row_group_size=7)
    rows = np.array([pool.height - 1, 0, 13, 13, 7, 40, 0, 25])
    columns = ["clip_id", "relation", "options", "answer"]
    expected = pool.select(columns)[rows]
    small_slices(monkeypatch)
    assert pool_rows(pl.scan_parquet(tmp_path / "pool.parquet"), rows, columns).equals(expected)
    assert pool_rows(pool, rows, columns).equals(expected)


def test_train_prompts_from_the_scanned_pool_match_the_in_memory_pool(tmp_path, monkeypatch):
    """build_train_prompts scans train_pool.parquet and clips.parquet a slice at a time (bounded memory); the
    prompts are those of the pool in memory, read in one slice."""
    pool = make_pool(5)
    clips = make_clips(pool, pool.head(0))
    pool.write_parquet(tmp_path / "pool.parquet", row_group_size=9)
    clips.write_parquet(tmp_path / "clips.parquet")
    plan = plan_train_prompts(pool, clips, 700, seed=2, replay_fraction=0.1, multi_clip_fraction=0.2)
    whole = assemble_train_prompts(pool, plan, prefix="700")
    small_slices(monkeypatch)
    build_train_prompts(train_pool=tmp_path / "pool.parquet", clips_parquet=tmp_path / "clips.parquet",
                        out=tmp_path / "train.parquet", n=700, seed=2, replay_fraction=0.1, multi_clip_fraction=0.2,
                        name="700")
    assert pl.read_parquet(tmp_path / "train.parquet").equals(whole)


def test_empty_pool_is_a_clear_error():
    with pytest.raises(ShardError, match="train_pool.parquet is empty"):
        plan_train_prompts(make_pool().head(0), make_clips(make_pool(), make_pool().head(0)), 10, seed=0,
                           replay_fraction=0, multi_clip_fraction=0)


def test_leakage_audit(tmp_path):
    pool, test = make_pool(2), make_pool(2, split="test")
    make_clips(pool, test).write_parquet(tmp_path / "clips.parquet")
    test.write_parquet(tmp_path / "test.parquet")
    pl.DataFrame({"label": list(LABELS), "synset": [s for s, _ in LABELS.values()]}).write_parquet(tmp_path / "ls.parquet")
    pool.write_parquet(tmp_path / "pool.parquet")
    build_train_prompts(train_pool=tmp_path / "pool.parquet", clips_parquet=tmp_path / "clips.parquet", out=tmp_path / "train.parquet", n=200, seed=0,
                        replay_fraction=0.2, multi_clip_fraction=0.2, name="200")
    synthesis.audio_pretrain_prompts(make_clips(pool, test), seed=0).write_parquet(tmp_path / "pretrain.parquet")
    kw = dict(test=tmp_path / "test.parquet", clips_parquet=tmp_path / "clips.parquet",
              label_synsets=tmp_path / "ls.parquet", report=tmp_path / "audit.json")
    leakage_audit(train=[tmp_path / "train.parquet"], pretrain=tmp_path / "pretrain.parquet", synset_disjoint=False, **kw)
    assert (tmp_path / "audit.json").exists()
    # pool and test share synsets: fine when clip-disjoint only, a failure when synset-disjoint is promised
    with pytest.raises(ShardError, match="test synsets"):
        leakage_audit(train=[tmp_path / "train.parquet"], pretrain=tmp_path / "pretrain.parquet", synset_disjoint=True, **kw)
    # pretraining labels every train clip, of test synsets too: never a synset failure
    leakage_audit(train=[], pretrain=tmp_path / "pretrain.parquet", synset_disjoint=True, **kw)

    def leaky(name):  # the prompts of `name` with one test clip in the first prompt
        pl.read_parquet(tmp_path / f"{name}.parquet").with_columns(
            pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(["test_dog_0"])).otherwise(pl.col("clip_ids")).alias("clip_ids")
        ).write_parquet(tmp_path / f"leaky_{name}.parquet")
        return tmp_path / f"leaky_{name}.parquet"

    with pytest.raises(ShardError, match="leaky_train.parquet use 1 test clips"):
        leakage_audit(train=[leaky("train")], pretrain=tmp_path / "pretrain.parquet", synset_disjoint=False, **kw)
    with pytest.raises(ShardError, match="leaky_pretrain.parquet use 1 test clips"):
        leakage_audit(train=[tmp_path / "train.parquet"], pretrain=leaky("pretrain"), synset_disjoint=False, **kw)


def test_tokenizer_learns_a_new_relation_only_where_it_is_asked():
    """The default's tokenizer (and so its weights and quoted numbers) stays as it was: a relation added
    after it joins the tokenizer's texts only in runs that ask it."""
    default = templates.tokenizer_texts(["synonym", "hypernym"])
    assert default == templates.tokenizer_texts() and not any("part" in t.split() for t in default)
    tokenizer_relations = [r.name for r in RELATIONS.values() if r.in_tokenizer]
    assert tokenizer_relations == ["synonym", "hypernym", "hyponym", "cohyponym"]  # the published default's
    audio_once = lambda t: t.text.count(templates.AUDIO) == 1  # noqa: E731
    assert default == [x for t in templates.all_templates() if t.relation in (None, *tokenizer_relations)
                       for x in ([t.text, templates.to_original(t.text)] if audio_once(t) else [t.text])]
    parts = templates.semantic_templates("meronym", "source", "yesno")[0].text
    meronym_texts = templates.tokenizer_texts(["meronym"])
    assert parts in meronym_texts and templates.to_original(parts) in meronym_texts
    assert RELATIONS["meronym"].roles == {"source"} and RELATIONS["hypernym2"].roles == {"source", "event"}
    texts = lambda rel: {t.text.replace("type", "kind") for t in templates.all_templates()  # noqa: E731
                         if t.relation == rel and t.task == "semantic"}
    assert not texts("hypernym2") & texts("hypernym")  # worded apart: the two columns ask different things
