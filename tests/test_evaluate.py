"""The scorer on models whose answers are known, strict answer extraction, the labelling protocol."""
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from shard.prompts import templates
from shard.common import ShardError, read_jsonl, write_jsonl
from shard.evaluation.evaluate import (PARSE_FAILURES, LabelMatcher, extract_answer, labelling_labels, labelling_metrics,
                            multi_label, pick_options, score_labelling, score_semantic, semantic_metrics,
                            sentence_embedder)
EVAL = {"mode": "loglik", "batch_size": 64, "max_new_tokens": 16}  # the config's evaluate section


class ListeningModel:
    """A real AudioLLM (same interface) with a hand-set rule: it 'hears' a clip as loud when its
    features are positive. On loud audio it prefers the first option ("yes", or mc4 option 0); on
    silence the last one. Captions name the class whose index is the feature value."""

    def __init__(self, captions=("dog barking", "piano music")):
        self.captions = captions
        self.calls = []

    @staticmethod
    def _loud(feats):
        return any(float(np.mean(f)) > 0 for f in feats)

    def option_logprobs(self, texts, features, fmt, options, share_cache=True):
        self.calls.append(("loglik", fmt, len(texts)))
        out = []
        for feats, opts in zip(features, options):
            if opts and len(opts) > 4:  # labelling: prefer the label whose index is the feature value
                pref = int(round(float(np.mean(feats[0]))))
            else:
                pref = 0 if self._loud(feats) else len(opts) - 1
            out.append([(-1.0 * len(o.split()) + (5.0 if i == pref else 0.0), len(o.split()))
                        for i, o in enumerate(opts)])
        return out

    def generate(self, texts, features, fmt, max_new_tokens):
        self.calls.append(("generate", fmt, len(texts)))
        return [self.captions[int(round(float(np.mean(f[0]))))] for f in features]


class CharacterModel:
    """Every character of an option costs 0.5 nats and ending the option 1 nat: the summed
    log-prob prefers the shortest option, the per-character one the longest."""

    def option_logprobs(self, texts, features, fmt, options, share_cache=True):
        return [[(-0.5 * len(o) - 1.0, len(o)) for o in opts] for opts in options]


class ScriptedModel:
    """Answers each prompt with a fixed string (generation mode)."""

    def __init__(self, answers):
        self.answers = answers

    def generate(self, texts, features, fmt, max_new_tokens):
        return [self.answers[t] for t in texts]


def _prompts(rows):
    base = {"task": "semantic", "format": "interleaved"}
    return pl.DataFrame([{**base, **r} for r in rows],
                        schema_overrides={"clip_ids": pl.List(pl.String), "options": pl.List(pl.String)})


def _shard_rows():
    rows = []
    for i in range(8):
        yesno = i < 6
        options = ["yes", "no"] if yesno else ["dog", "canine", "piano", "bell"]
        answer_index = i % 2 if yesno else 1
        rows.append({"prompt_id": f"p{i}", "item_id": f"i{i}", "clip_ids": [f"c{i // 2}"],
                     "text": f"question {i} about <audio>?", "options": options,
                     "answer": options[answer_index], "answer_index": answer_index,
                     "relation": "synonym" if i % 4 < 2 else "hypernym",
                     "question_format": "yesno" if yesno else "mc4"})
    return rows


def _features(loud_clips):
    return lambda ids: [np.full((4, 6), 1.0 if c in loud_clips else 0.0, np.float16) for c in ids]


def test_scorer_on_a_model_whose_answer_is_known():
    prompts = _prompts(_shard_rows())
    model = ListeningModel()
    # all clips loud: always the first option -> right on yes/no items whose answer is yes (i = 0, 2, 4)
    records = score_semantic(model, prompts, _features({"c0", "c1", "c2", "c3"}), "interleaved",
                             {**EVAL, "batch_size": 3})
    metrics = semantic_metrics(records, EVAL["mode"])
    assert [r["correct"] for r in records] == [True, False, True, False, True, False, False, False]
    assert metrics["acc"] == pytest.approx(3 / 8)
    assert metrics["chance"] == pytest.approx((6 * 0.5 + 2 * 0.25) / 8)
    assert [c[2] for c in model.calls] == [3, 3, 2]  # batched by evaluate.batch_size
    # silence (the blind control's input): always the last option -> "no" items, and none of mc4
    records = score_semantic(ListeningModel(), prompts, _features(set()), "interleaved", EVAL)
    metrics = semantic_metrics(records, EVAL["mode"])
    assert metrics["acc"] == pytest.approx(3 / 8)
    assert [r["prediction"] for r in records][:2] == ["no", "no"] and records[6]["prediction"] == "bell"
    assert records[0]["option_scores"] == [-1.0, 4.0] and records[0]["clip_id"] == "c0"
    assert {"prompt_id", "item_id", "clip_id", "relation", "question_format", "prediction",
            "option_scores", "correct", "n_options"} <= set(records[0])


def test_acc_and_acc_norm_differ():
    # sum: yes -2.5, no -2.0 -> "no"; per character: yes -0.833, no -1.0 -> "yes"
    assert pick_options([(-2.5, 1), (-2.0, 1)], ["yes", "no"]) == (1, 0)
    rows = _shard_rows()[:2]  # answers: yes, no
    records = score_semantic(CharacterModel(), _prompts(rows), _features(set()), "interleaved", EVAL)
    metrics = semantic_metrics(records, EVAL["mode"])
    assert [r["prediction"] for r in records] == ["no", "no"]
    assert [r["prediction_norm"] for r in records] == ["yes", "yes"]
    assert metrics["acc"] == 0.5 and metrics["acc_norm"] == 0.5
    assert [r["correct"] for r in records] == [False, True]
    assert [r["correct_norm"] for r in records] == [True, False]


def test_acc_norm_divides_by_characters_not_bytes():
    """lm-evaluation-harness's acc_norm: the log-prob per character of the option (lm_eval/api/task.py,
    `completion_len`), not per UTF-8 byte: "café" is 4 characters, 5 bytes."""
    scores = [(-4.6, 2), (-3.3, 1)]
    # per character: café -1.15, tea -1.10 -> tea; per byte café would win (-0.92 against -1.10)
    assert -4.6 / len("café".encode()) > -3.3 / len("tea".encode())
    assert pick_options(scores, ["café", "tea"]) == (1, 1)


@pytest.mark.parametrize("text, fmt, expected", [
    ("Yes.", "yesno", (0, None)),
    ("  no!", "yesno", (1, None)),
    ("Yes, it is a dog.", "yesno", (0, None)),
    ("", "yesno", (None, "empty")),
    (" ... ", "yesno", (None, "empty")),
    ("maybe", "yesno", (None, "no_option")),
    ("yesterday", "yesno", (None, "no_option")),
    ("I think yes", "yesno", (None, "no_option")),        # strict: not where the answer goes
    ("either yes or no", "yesno", (None, "several_options")),
    ("Yes or no.", "yesno", (None, "several_options")),
    ("canine", "mc4", (1, None)),
    ("It is a Church Bell.", "mc4", (3, None)),          # "bell" inside "church bell" is not a second option
    ("a bell or a church bell", "mc4", (None, "several_options")),
    ("dog or canine", "mc4", (None, "several_options")),
    ("a cat", "mc4", (None, "no_option")),
])
def test_strict_extraction(text, fmt, expected):
    options = ["yes", "no"] if fmt == "yesno" else ["dog", "canine", "bell", "church bell"]
    assert extract_answer(text, options, fmt) == expected


def test_generation_mode_counts_each_failure_kind():
    rows = _shard_rows()
    texts = [r["text"] for r in rows]
    answers = dict(zip(texts, ["Yes.", "", "perhaps", "yes or no", "yes", "No", "Canine.", "dog, canine"]))
    records = score_semantic(ScriptedModel(answers), _prompts(rows), _features(set()), "interleaved",
                             {**EVAL, "mode": "generate", "max_new_tokens": 8})
    metrics = semantic_metrics(records, "generate")
    assert [r["parse_ok"] for r in records] == [True, False, False, False, True, True, True, False]
    assert [r["parse_failure"] for r in records if not r["parse_ok"]] == ["empty", "no_option", "several_options",
                                                                            "several_options"]
    assert metrics["parse_failures"] == {"empty": 1, "no_option": 1, "several_options": 2}
    assert set(metrics["parse_failures"]) == set(PARSE_FAILURES)
    assert metrics["parse_failure_rate"] == pytest.approx(4 / 8)
    # right: 0 (yes), 4 (yes), 5 (answer yes? i=5 -> answer no, said No), 6 (canine)
    assert metrics["acc"] == pytest.approx(4 / 8) and metrics["acc_norm"] is None
    assert not any(r["correct"] for r in records if not r["parse_ok"])


@pytest.fixture(scope="module")
def embed():
    return sentence_embedder("cpu")


def test_labelling_embedding_is_real_minilm(embed):
    sims = LabelMatcher(["dog", "piano"], embed).similarities(["dog barking"])
    assert sims.shape == (1, 2) and sims[0, 0] > sims[0, 1]
    assert embed(["sound of dog"]).shape == (1, 384)


def _labelling(clip_labels, captions):
    """(the corpus' labels, clips, the labelling prompts eval_prompts writes of them: no per-row label list)."""
    from shard.prompts.synthesis import labelling_prompts

    labels = sorted({templates.caption_answer(l) for ls in clip_labels.values() for l in ls})
    clips = pl.DataFrame({"clip_id": list(clip_labels), "labels": list(clip_labels.values()),
                          "label": [ls[0] for ls in clip_labels.values()], "split": ["test"] * len(clip_labels)})
    prompts = labelling_prompts(clips)
    assert prompts["options"].is_null().all() and prompts["clip_ids"].list.first().to_list() == sorted(clip_labels)
    return labels, clips, prompts


def test_labelling_protocol_single_label(embed):
    clip_labels = {"a": ["Dog"], "b": ["Piano"], "c": ["Dog"], "d": ["Bell"], "e": ["Siren"], "f": ["Thunder"]}
    labels, clips, prompts = _labelling(clip_labels, None)
    assert labels == ["bell", "dog", "piano", "siren", "thunder"]
    # feature value = index of the caption the model writes; a,c hear "dog", b hears "piano", the rest hear "dog"
    value = {"a": 0, "b": 1, "c": 0, "d": 0, "e": 0, "f": 0}
    feats = lambda ids: [np.full((2, 3), value[c], np.float32) for c in ids]
    model = ListeningModel(captions=("a dog barking", "piano music"))
    records = score_labelling(model, prompts, clips, feats, "interleaved", {**EVAL, "batch_size": 4}, embed)
    m = labelling_metrics(records, labelling_labels(prompts, clips), multi_label(clips))
    assert [r["prediction"] for r in records] == ["dog", "piano", "dog", "dog", "dog", "dog"]
    assert m["acc_caption"] == pytest.approx(3 / 6) and m["acc"] == m["acc_caption"]
    # constrained variant: prefers label index = feature value (0 -> "bell", 1 -> "dog")
    assert [r["prediction_loglik"] for r in records] == ["bell", "dog", "bell", "bell", "bell", "bell"]
    assert m["acc_loglik"] == pytest.approx(1 / 6)
    assert m["n_labels"] == 5 and m["chance"] == pytest.approx(0.2) and m["metric"] == "acc"
    assert not m["multi_label"] and "map_caption" not in m


def test_labelling_labels_come_from_the_clips_and_must_match_the_prompts():
    clip_labels = {"a": ["Dog"], "b": ["Piano"], "c": ["Siren"]}
    labels, clips, prompts = _labelling(clip_labels, None)
    assert labelling_labels(prompts, clips) == labels == ["dog", "piano", "siren"]
    assert labelling_labels(prompts.head(0), clips) == labels  # the corpus' labels, even with no prompt
    # prompts built from other clips: "bell" shifts every index, so the answers no longer match
    other = clips.with_columns(labels=pl.Series([["Dog", "Bell"], ["Piano"], ["Siren"]]))
    with pytest.raises(ShardError, match=r"labelling prompt a.labelling: its answer 'dog' is not label 0 of the 4 "
                                         r"labels of clips.parquet \(3 prompts disagree\).*rebuild "
                                         r"results/prompts/labelling_\*.parquet \(rule eval_prompts\)"):
        labelling_labels(prompts, other)


def test_labelling_protocol_multi_label_map(embed):
    clip_labels = {"a": ["Dog", "Bark"], "b": ["Piano"], "c": ["Siren"], "d": ["Bell"], "e": ["Thunder"]}
    labels, clips, prompts = _labelling(clip_labels, None)
    captions = ("dog barking", "piano", "siren", "bell ringing", "thunder")
    value = {c: i for i, c in enumerate(clip_labels)}
    feats = lambda ids: [np.full((2, 3), value[c], np.float32) for c in ids]
    records = score_labelling(ListeningModel(captions), prompts, clips, feats, "original", EVAL, embed)
    m = labelling_metrics(records, labelling_labels(prompts, clips), multi_label(clips))
    assert m["multi_label"] and m["metric"] == "map"
    assert records[0]["gold_index"] == [labels.index("bark"), labels.index("dog")]
    assert 0.8 < m["map_caption"] <= 1.0  # captions name the right sound: near-perfect ranking
    assert m["acc_caption"] == 1.0
    assert 0 < m["map_loglik"] <= 1.0 and 0 < m["chance_map"] < 0.5


def test_jsonl_roundtrip(tmp_path):
    records = [{"prompt_id": "p", "correct": True, "option_scores": [-1.5, -0.25], "generation": None},
               {"prompt_id": "q", "correct": False, "option_scores": [0.1], "generation": "yes"}]
    write_jsonl(records, tmp_path / "x.jsonl")
    assert read_jsonl(tmp_path / "x.jsonl").to_dicts() == records
    assert (tmp_path / "x.jsonl").read_text().splitlines()[0] == \
        '{"prompt_id":"p","correct":true,"option_scores":[-1.5,-0.25],"generation":null}'


# ---------------------------------------------------------------- evaluate(): files in, files out
def _tiny_base(directory, words):
    """A random, tiny mini_ltu saved the way pretraining saves it (weights + tokenizer)."""
    from shard.models.mini_ltu import random_mini_ltu

    net, tok = random_mini_ltu([templates.LTU_PROMPT, templates.CAPTION.text, "is <audio> a kind of ? options :"] + words,
                               {"hidden_size": 32, "layers": 1, "heads": 2, "audio_tokens": 4}, required=words)
    net.save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    from shard.common import write_parquet
    from tests.fixtures import write_feature_set

    d = tmp_path_factory.mktemp("eval")
    labels = ["Dog", "Bell", "Siren"]
    clips = pl.DataFrame({"clip_id": [f"c{i}" for i in range(6)], "row": list(range(6)),
                          "labels": [[labels[i % 3]] for i in range(6)], "label": [labels[i % 3] for i in range(6)]})
    write_parquet(clips, d / "clips.parquet")
    write_feature_set(d / "logmel.json", clips["clip_id"], np.random.default_rng(0).normal(-20, 10, (6, 64, 101)))
    # the same question about two different clips: blind must score them alike
    rows = [{"prompt_id": f"p{i}", "item_id": f"i{i}", "clip_ids": [f"c{i % 6}"],
             "text": "Is <audio> a kind of canine?" if i < 2 else "Is <audio> a kind of bell? Options: dog, bell, siren, canine.",
             "options": ["yes", "no"] if i < 4 else ["dog", "bell", "siren", "canine"], "answer": "yes" if i < 4 else "bell",
             "answer_index": 0 if i < 4 else 1, "relation": "hypernym", "question_format": "yesno" if i < 4 else "mc4"}
            for i in range(6)]
    write_parquet(_prompts(rows), d / "eval.parquet")
    _, _, lab = _labelling({c: ls for c, ls in zip(clips["clip_id"], clips["labels"])}, None)
    write_parquet(lab, d / "labelling.parquet")
    _tiny_base(d / "base", ["yes", "no", "dog", "bell", "siren", "canine"])
    return d


def _rule_arguments(d, condition, task, prompts, mode="loglik", batch_size=4, out=None):
    """What rule `evaluate` passes for one (condition, task) of the workdir: its inputs, outputs and params."""
    from shard.evaluation.conditions import study_conditions
    from shard.dataset.features import featurize

    out = out or d / condition
    record = {c.name: c.as_dict() for c in study_conditions({}, False)}[condition]
    fmt = pl.read_parquet(d / prompts)["format"][0]  # these tests' prompt files are in one format
    silence = d / "silence.npy"
    np.save(silence, featurize(np.zeros(16000, np.float32), "logmel", {"n_mels": 64, "n_fft": 400, "hop_length": 160}))
    return dict(prompts=str(d / prompts), clips_parquet=str(d / "clips.parquet"), features=str(d / "logmel.json"),
                silence=str(silence), predictions=str(out / f"{task}.jsonl"), summary=str(out / f"{task}.summary.json"),
                base_dir=str(d / "base"), adapter_dir=None,
                model={"backend": "mini_ltu", "frontend": "logmel", "device": "cpu"},
                evaluate={"mode": mode, "batch_size": batch_size, "max_new_tokens": 4},
                condition={**record, "prompt_format": fmt}, task=task, threads=1)


def _run(d, condition, task, prompts, mode="loglik"):
    from shard.evaluation.evaluate import evaluate

    arguments = _rule_arguments(d, condition, task, prompts, mode)
    evaluate(**arguments)
    import json
    return read_jsonl(arguments["predictions"]).to_dicts(), json.loads(Path(arguments["summary"]).read_text())


def test_evaluate_writes_predictions_and_summary(workdir):
    records, summary = _run(workdir, "zeroshot_interleaved", "semantic", "eval.parquet")
    assert len(records) == 6 and summary["n"] == 6 and summary["condition"] == "zeroshot_interleaved"
    assert {"acc", "acc_norm", "chance", "model"} <= set(summary)
    assert summary["chance"] == pytest.approx((4 * 0.5 + 2 * 0.25) / 6)
    assert summary["model"]["backend"] == "mini_ltu" and len(summary["model"]["base_sha1"]) == 40
    assert summary["acc"] == pytest.approx(np.mean([r["correct"] for r in records]))
    # different clips, same question: the model hears the difference
    assert records[0]["option_scores"] != records[1]["option_scores"]
    blind, blind_summary = _run(workdir, "blind", "semantic", "eval.parquet")
    assert blind_summary["audio"] == "silence"
    assert blind[0]["option_scores"] == pytest.approx(blind[1]["option_scores"], abs=1e-5)
    assert blind[0]["option_scores"] != records[0]["option_scores"]


def test_text_oracle_reads_the_label_in_place_of_the_audio(workdir):
    """text_oracle: no audio at all; each clip's label as text in its slot. Two prompts with the same question
    score alike exactly when their clips have the same labels."""
    oracle, summary = _run(workdir, "text_oracle", "semantic", "eval.parquet")
    assert summary["audio"] == "label" and summary["n"] == 6
    clips = pl.read_parquet(workdir / "clips.parquet")
    labels = dict(zip(clips["clip_id"], clips["labels"].to_list()))
    a, b = (labels[r["clip_id"]] for r in oracle[:2])
    same = oracle[0]["option_scores"] == pytest.approx(oracle[1]["option_scores"], abs=1e-5)
    assert same == (a == b)
    blind, _ = _run(workdir, "blind", "semantic", "eval.parquet")
    assert oracle[0]["option_scores"] != pytest.approx(blind[0]["option_scores"], abs=1e-5)


def test_labels_in_place():
    from shard.prompts.templates import labels_in_place

    text = "Is <audio> louder than <audio>? Options: yes, no."
    assert labels_in_place(text, [["Dog"], ["Church bell", "Bell"]]) == \
        "Is the sound of dog louder than the sound of church bell and bell? Options: yes, no."
    with pytest.raises(ValueError, match="2 <audio> placeholder"):
        labels_in_place(text, [["Dog"]])


class GeneratingModel(ScriptedModel):
    """Generates the given strings, in prompt order, whatever the batching."""

    def __init__(self, generations):
        self.generations = list(generations)

    def generate(self, texts, features, fmt, max_new_tokens):
        out, self.generations = self.generations[:len(texts)], self.generations[len(texts):]
        return out


def test_evaluate_generate_and_labelling(workdir, embed, monkeypatch):
    # evaluate() end to end in generation mode, with generations known in advance (answers: 4x yes, 2x bell)
    import shard.models

    gens = ["yes", "Yes, it is.", "", "maybe", "a dog or a bell", "Siren."]
    monkeypatch.setattr(shard.models, "load_model", lambda *a, **k: GeneratingModel(gens))
    records, summary = _run(workdir, "original", "semantic", "eval.parquet", mode="generate")
    monkeypatch.undo()
    assert [r["generation"] for r in records] == gens
    assert [r["parse_ok"] for r in records] == [True, True, False, False, False, True]
    assert [r["prediction"] for r in records] == ["yes", "yes", None, None, None, "siren"]
    assert summary["acc"] == pytest.approx(2 / 6) and summary["parse_failure_rate"] == pytest.approx(3 / 6)
    assert summary["parse_failures"] == {"empty": 1, "no_option": 1, "several_options": 1}
    assert summary["mode"] == "generate" and summary["acc_norm"] is None
    records, summary = _run(workdir, "original", "labelling", "labelling.parquet")
    assert summary["n"] == 6 and summary["n_labels"] == 3 and summary["chance"] == pytest.approx(1 / 3)
    assert {"acc_caption", "acc_loglik", "acc_norm_loglik"} <= set(summary) and not summary["multi_label"]
    assert all(len(r["option_scores"]) == 3 and len(r["loglik_scores"]) == 3 for r in records)


def test_bad_prompts_give_one_clear_error(workdir, tmp_path):
    from shard.common import ShardError, write_parquet

    mixed = pl.read_parquet(workdir / "eval.parquet").with_columns(
        pl.Series("format", ["interleaved", "original"] * 3))
    write_parquet(mixed, workdir / "mixed.parquet")
    with pytest.raises(ShardError, match="mixed.parquet.*tested in the interleaved format but the file holds"):
        _run(workdir, "original", "semantic", "mixed.parquet")
    with pytest.raises(ShardError, match="unknown task"):
        _run(workdir, "original", "captions", "eval.parquet")


# ---------------------------------------------------------------- sharded evaluation (evaluate.shards)
@pytest.mark.parametrize("n_rows, batch_size, shards", [(100, 16, 3), (96, 16, 3), (7, 2, 2), (5, 2, 4), (0, 4, 2),
                                                        (1, 64, 1), (33, 1, 5), (10, 3, 10)])
def test_shard_blocks_are_contiguous_whole_batches(n_rows, batch_size, shards):
    from shard.evaluation.shards import blocks

    cut = blocks(n_rows, batch_size, shards)
    assert len(cut) == shards
    assert cut[0][0] == 0 and cut[-1][1] == n_rows  # every row, once, in order
    assert all(stop == start for (_, stop), (start, _) in zip(cut, cut[1:]))
    assert all(start % batch_size == 0 for start, stop in cut if stop > start)  # each block starts a batch...
    assert all((stop - start) % batch_size == 0 for start, stop in cut if stop < n_rows)  # ...and holds whole ones
    sizes = [-(-(stop - start) // batch_size) for start, stop in cut]  # batches per block: as even as they go
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_shard_blocks_with_more_shards_than_batches():
    from shard.evaluation.shards import blocks

    assert blocks(5, 2, 4) == [(0, 2), (2, 4), (4, 5), (5, 5)]  # three batches: the fourth shard is empty
    assert blocks(100, 16, 3) == [(0, 48), (48, 80), (80, 100)]
    with pytest.raises(ValueError):
        blocks(10, 0, 2)


@pytest.mark.parametrize("task, prompts", [("semantic", "eval.parquet"), ("labelling", "labelling.parquet")])
def test_sharded_evaluation_gathers_the_same_bytes(workdir, tmp_path, task, prompts):
    """6 prompts in batches of 2 (3 batches), scored in 2 shards and in 4 (the last one empty): the gather writes
    the unsharded run's jsonl and summary byte for byte."""
    from shard.evaluation.evaluate import evaluate
    from shard.evaluation.shards import evaluate_gather, evaluate_shard

    whole = _rule_arguments(workdir, "zeroshot_interleaved", task, prompts, batch_size=2, out=tmp_path / "whole")
    evaluate(**whole)
    for shards in (2, 4):
        arguments = _rule_arguments(workdir, "zeroshot_interleaved", task, prompts, batch_size=2,
                                    out=tmp_path / f"{shards}_shards")
        outputs = {k: arguments.pop(k) for k in ("predictions", "summary")}
        records = [str(tmp_path / f"{shards}_shards" / f"{k}-of-{shards}.jsonl") for k in range(shards)]
        for shard, path in enumerate(records):
            evaluate_shard(**arguments, records=path, shard=shard, shards=shards)
        if shards == 4:
            assert Path(records[-1]).stat().st_size == 0  # past the last batch: no records, no model loaded
        setting = {k: v for k, v in arguments.items() if k not in ("features", "silence", "threads")}
        evaluate_gather(**setting, **outputs, records=records)
        for kind in ("predictions", "summary"):
            assert Path(outputs[kind]).read_bytes() == Path(whole[kind]).read_bytes(), (shards, kind)


def test_gather_refuses_shards_that_miss_prompts(workdir, tmp_path):
    from shard.common import ShardError
    from shard.evaluation.shards import evaluate_gather, evaluate_shard

    arguments = _rule_arguments(workdir, "blind", "semantic", "eval.parquet", batch_size=2, out=tmp_path)
    outputs = {k: arguments.pop(k) for k in ("predictions", "summary")}
    first = str(tmp_path / "0-of-2.jsonl")
    evaluate_shard(**arguments, records=first, shard=0, shards=2)
    setting = {k: v for k, v in arguments.items() if k not in ("features", "silence", "threads")}
    with pytest.raises(ShardError, match="hold 4 records but .*eval.parquet has 6 prompts"):
        evaluate_gather(**setting, **outputs, records=[first])


def test_sharded_evaluation_plans_a_shard_job_per_block_and_one_gather(tmp_path):
    """evaluate.shards: 3 replaces each `evaluate` job of the plan by 3 `evaluate_shard` jobs and one local
    `evaluate_gather` writing the same two files; every other rule plans as before."""
    import yaml

    from tests.fixtures import copy_project, dry_run, tiny_workflow_config

    project = copy_project(tmp_path / "project")
    cfg = tiny_workflow_config()
    (project / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    whole, _ = dry_run(project)
    cfg["evaluate"]["shards"] = 3
    (project / "sharded.yaml").write_text(yaml.safe_dump(cfg))
    sharded, jobs = dry_run(project, configfiles=("sharded.yaml",))
    n = int(whole.pop("evaluate"))
    assert n > 0 and "evaluate" not in sharded
    assert int(sharded.pop("evaluate_shard")) == 3 * n and int(sharded.pop("evaluate_gather")) == n
    assert int(sharded.pop("total")) - 4 * n == int(whole.pop("total")) - n
    assert sharded == whole
    gather = next(j for j in jobs if "rule evaluate_gather:" in j and "/ft_500/semantic.jsonl" in j)
    assert all(f"ft_500/semantic.shards/{k}-of-3.jsonl" in gather for k in range(3)), gather
