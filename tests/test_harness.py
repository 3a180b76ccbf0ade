"""SHARD in lmms-eval and lm-eval (shard.harness): the exported task folders, their generated utils.py run on
the tiny export, and `--log_samples` output imported back into our tables.

CI has neither harness: utils.py is imported by path and its functions run here; the YAML is read with a loader
that accepts `!function`; the samples files are written as lmms-eval 0.7.3 and lm-eval 0.4 write them. One
test runs lmms-eval's `dummy` model end to end where `lmms_eval` is importable (a separate venv: README).
"""
from __future__ import annotations

import importlib.util
import inspect
import io
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
import soundfile as sf
import yaml

from shard.common import ShardError, write_jsonl
from shard.dataset.export import SPLIT_FILE
from shard.evaluation import evaluate
from shard.evaluation.conditions import study_conditions
from shard.evaluation.stats import mcnemar
from tests.fixtures import clip_audio
from shard.harness import task_docs
from shard.harness.importer import import_samples
from shard.harness.tasks import LM_EVAL, LMMS_EVAL, export_lm_eval, export_lmms_eval
from shard.prompts import templates
from shard.reporting.model_comparison import models_table
from shard.reporting.perception import perception_table
from shard.reporting.semantic import semantic_table

datasets = pytest.importorskip("datasets", reason="the `datasets` package reads the export (pip install datasets)")

HF = "results/export/hf"  # as the rules pass it: relative to the folder the harness runs in


class FunctionLoader(yaml.SafeLoader):
    """lmms-eval's and lm-eval's YAML: `!function utils.name` read as the string 'function:utils.name'."""


FunctionLoader.add_constructor("!function", lambda loader, node: f"function:{loader.construct_scalar(node)}")


def _yaml(path):
    return yaml.load(path.read_text(), Loader=FunctionLoader)


def _module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tasks(tiny_export, tmp_path_factory):
    """Both task folders over the tiny export, and their utils.py imported by path."""
    out = tmp_path_factory.mktemp("tasks")
    export_lmms_eval(hf=HF, out_dir=out / "lmms_eval" / "shard", max_new_tokens=24)
    export_lm_eval(hf=HF, out_dir=out / "lm_eval" / "shard_text_oracle")
    return {"root": out, "lmms": out / "lmms_eval" / "shard", "lm": out / "lm_eval" / "shard_text_oracle",
            "lmms_utils": _module(out / "lmms_eval" / "shard" / "utils.py", "shard_lmms_utils"),
            "lm_utils": _module(out / "lm_eval" / "shard_text_oracle" / "utils.py", "shard_lm_utils")}


@pytest.fixture(scope="module")
def dataset(tiny_export, tmp_path_factory):
    """The export as the harnesses load it: `datasets.load_dataset(dataset_path, split="test")`, offline."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        return datasets.load_dataset(str(tiny_export / "export" / "hf"), split="test",
                                     cache_dir=str(tmp_path_factory.mktemp("hf_cache")))


def test_utils_embeds_our_parser_and_prompts_by_source(tasks):
    """One source: utils.py holds the very source of extract_answer, to_original, labels_in_place and the task
    functions, and needs no `shard` package (a separate venv runs it)."""
    for folder, embedded in (("lmms", LMMS_EVAL), ("lm", LM_EVAL)):
        text = (tasks[folder] / "utils.py").read_text()
        assert not re.search(r"^\s*(import|from) shard\b", text, flags=re.M)
        for module, names in embedded:
            for name in names:
                if inspect.isfunction(getattr(module, name)):
                    assert inspect.getsource(getattr(module, name)) in text, name
    utils = tasks["lmms_utils"]
    answers = ["Yes.", "no", "Yes, it is.", "yes or no", "I think yes", "", "  ", "canine", "It is a canine!",
               "canine or animal", "bell", "church bell"]
    for text in answers:
        for options, fmt in ((["yes", "no"], "yesno"), (["canine", "animal", "bell", "church bell"], "mc4")):
            assert utils.extract_answer(text, options, fmt) == evaluate.extract_answer(text, options, fmt)


def test_lmms_eval_functions_on_the_tiny_export(tasks, dataset, tiny_export):
    utils = tasks["lmms_utils"]
    items = pl.read_parquet(tiny_export / "shard" / "test.parquet")
    yesno, mc4 = utils.process_docs_yesno(dataset), utils.process_docs_mc4(dataset)
    assert (yesno.num_rows, mc4.num_rows) == tuple((items["format"] == f).sum() for f in ("yesno", "mc4"))
    assert set(yesno["format"]) == {"yesno"} and set(mc4["format"]) == {"mc4"}
    assert yesno.features["audio"] == datasets.Audio(sampling_rate=16000, decode=False)

    pcm = clip_audio(tiny_export)
    for doc in [yesno[0], mc4[0]]:
        [audio] = utils.doc_to_visual(doc)
        assert audio["sampling_rate"] == 16000 and audio["array"].dtype == np.float32
        assert np.abs(audio["array"] - pcm[doc["clip_id"]] / 32768.0).max() <= 1 / 32768
        text = utils.doc_to_text(doc)
        assert text == templates.to_original(doc["question"])[len(templates.AUDIO):] and "<audio>" not in text
        [turn] = utils.doc_to_messages(doc)
        audio_part, text_part = turn["content"]
        assert audio_part["type"] == "audio" and text_part == {"type": "text", "text": text}
        with open(audio_part["url"], "rb") as fh:
            assert sf.read(io.BytesIO(fh.read()))[1] == 16000

        options = list(doc["options"])
        right = utils.process_results(doc, [f"{doc['answer'].capitalize()}."])["shard_acc"]
        assert right == {"item_id": doc["item_id"], "clip_id": doc["clip_id"], "relation": doc["relation"],
                         "format": doc["format"], "prediction": doc["answer"], "correct": True, "parse_failure": None}
        wrong = next(o for o in options if o != doc["answer"])
        assert utils.process_results(doc, [wrong])["shard_acc"]["correct"] is False
        assert utils.process_results(doc, ["I cannot tell"])["shard_acc"]["parse_failure"] == "no_option"
    assert utils.accuracy([{"correct": True}, {"correct": False}]) == 0.5


def test_task_yaml(tasks, tiny_export):
    lmms = tasks["lmms"]
    assert sorted(p.name for p in lmms.iterdir()) == ["_default_template_yaml", "shard.yaml", "shard_mc4.yaml",
                                                      "shard_yesno.yaml", "utils.py"]
    group = _yaml(lmms / "shard.yaml")
    assert group["group"] == "shard" and group["task"] == ["shard_yesno", "shard_mc4"]
    base = _yaml(lmms / "_default_template_yaml")
    assert base["dataset_path"] == HF and (tiny_export.parent / base["dataset_path"]).is_dir()
    assert base["output_type"] == "generate_until" and base["generation_kwargs"]["max_new_tokens"] == 24
    assert base["doc_to_target"] == "answer" and base["metric_list"][0]["metric"] == task_docs.METRIC
    functions = {v for v in base.values() if isinstance(v, str) and v.startswith("function:")}
    functions.add(base["metric_list"][0]["aggregation"])
    for fmt in ("yesno", "mc4"):
        sub = _yaml(lmms / f"shard_{fmt}.yaml")
        assert sub == {"task": f"shard_{fmt}", "include": "_default_template_yaml",
                       "process_docs": f"function:utils.process_docs_{fmt}"}
        functions.add(sub["process_docs"])
    assert functions == {f"function:utils.{n}" for n in ("doc_to_visual", "doc_to_text", "doc_to_messages",
                                                         "process_results", "accuracy", "process_docs_yesno",
                                                         "process_docs_mc4")}
    assert all(callable(getattr(tasks["lmms_utils"], f.split(".")[1])) for f in functions)

    oracle = _yaml(tasks["lm"] / "shard_text_oracle.yaml")
    assert oracle["task"] == "shard_text_oracle" and oracle["output_type"] == "multiple_choice"
    assert oracle["dataset_path"] == "parquet" and oracle["dataset_kwargs"]["data_files"] == {"test": f"{HF}/{SPLIT_FILE}"}
    assert "audio" not in oracle["dataset_kwargs"]["columns"] and "item_id" in oracle["dataset_kwargs"]["columns"]
    assert (oracle["doc_to_choice"], oracle["doc_to_target"]) == ("options", "answer_index")
    assert oracle["doc_to_text"] == "function:utils.text_oracle_text"
    docs = pl.read_parquet(tiny_export / "export" / "hf" / SPLIT_FILE, columns=oracle["dataset_kwargs"]["columns"])
    for doc in docs.head(5).iter_rows(named=True):  # the text_oracle condition's text
        expected = templates.labels_in_place(doc["question"], [[doc["label"]]])
        assert tasks["lm_utils"].text_oracle_text(doc) == expected and "<audio>" not in expected


def test_task_folders_are_byte_identical_anywhere(tasks, tmp_path):
    other = tmp_path / "another" / "checkout"
    export_lmms_eval(hf=HF, out_dir=other / "lmms", max_new_tokens=24)
    export_lm_eval(hf=HF, out_dir=other / "lm")
    for mine, theirs in ((tasks["lmms"], other / "lmms"), (tasks["lm"], other / "lm")):
        files = sorted(p.name for p in mine.iterdir())
        assert files == sorted(p.name for p in theirs.iterdir())
        for name in files:
            data = (mine / name).read_bytes()
            assert data == (theirs / name).read_bytes(), name
            assert str(tmp_path).encode() not in data and str(tasks["root"]).encode() not in data


# ---------------------------------------------------------------- the import, into our tables
def _lmms_samples(dataset, utils, folder):
    """lmms-eval 0.7.3's samples files: every third item answered right, then a wrong option, then no option."""
    folder.mkdir(parents=True)
    expected = {}
    for fmt in ("yesno", "mc4"):
        lines = []
        for doc_id, doc in enumerate(utils.process_docs(dataset, fmt)):
            k = len(expected)
            wrong = next(o for o in doc["options"] if o != doc["answer"])
            text = [f"{doc['answer'].capitalize()}.", wrong, "Hard to say."][k % 3]
            expected[doc["item_id"]] = k % 3 == 0
            lines.append({"doc_id": doc_id, "target": doc["answer"], "filtered_resps": text, "token_counts": [None],
                          "doc_hash": "0" * 64, **utils.process_results(doc, [text]), "input": utils.doc_to_text(doc)})
        (folder / f"20261205_010203_samples_shard_{fmt}.jsonl").write_text(
            "".join(json.dumps(line) + "\n" for line in lines))
    (folder / "20261205_010203_results.json").write_text(json.dumps({"config": {"model": "qwen2_audio",
                                                                                "model_args": "pretrained=x"}}))
    return expected


def _lm_eval_samples(docs, folder):
    """lm-eval 0.4's samples file: the log-likelihood of each option, the answer highest on every other item."""
    folder.mkdir(parents=True)
    expected, lines = {}, []
    for doc_id, doc in enumerate(docs.iter_rows(named=True)):
        best = doc["answer_index"] if doc_id % 2 == 0 else (doc["answer_index"] + 1) % len(doc["options"])
        # lm-eval 0.4.13 writes each (log-likelihood, is_greedy) as strings
        scores = [["-1.0" if i == best else "-5.5", "False"] for i in range(len(doc["options"]))]
        expected[doc["item_id"]] = doc_id % 2 == 0
        lines.append({"doc_id": doc_id, "doc": doc, "target": str(doc["answer_index"]), "arguments": {},
                      "resps": [[s] for s in scores], "filtered_resps": scores, "filter": "none",
                      "metrics": ["acc", "acc_norm"], "acc": float(doc_id % 2 == 0)})
    (folder / "samples_shard_text_oracle_2026-12-05T01-02-03.123456.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for line in lines))
    return expected


def _ours(items, folder):
    """Our model's answers (as `evaluate` writes them): right on items whose index is even, in every condition."""
    preds = {"semantic": {}, "labelling": {}}
    conditions = [c.as_dict() for c in study_conditions({}, False)]  # original, zeroshot_interleaved, blind, text_oracle
    for cond in conditions:
        rows = [{"prompt_id": r["item_id"], "item_id": r["item_id"], "clip_id": r["clip_id"],
                 "relation": r["relation"], "question_format": r["format"], "n_options": len(r["options"]),
                 "prediction": r["answer"], "option_scores": None, "correct": i % 2 == 0}
                for i, r in enumerate(items.iter_rows(named=True))]
        write_jsonl(rows, folder / cond["name"] / "semantic.jsonl")
        preds["semantic"]["mini_ltu", 0, cond["name"]] = str(folder / cond["name"] / "semantic.jsonl")
        if "labelling" in cond["tasks"]:
            clips = sorted(set(items["clip_id"]))
            write_jsonl([{"prompt_id": c, "item_id": c, "clip_id": c, "relation": None, "question_format": "caption",
                          "n_options": 2, "generation": "x", "gold_index": [0], "prediction": "a",
                          "option_scores": [0.9, 0.1], "correct": True, "loglik_scores": [0.9, 0.1],
                          "correct_loglik": True, "correct_norm_loglik": True} for c in clips],
                        folder / cond["name"] / "labelling.jsonl")
            preds["labelling"]["mini_ltu", 0, cond["name"]] = str(folder / cond["name"] / "labelling.jsonl")
    return preds, conditions


def test_log_samples_import_into_the_tables(tasks, dataset, tiny_export, tmp_path):
    """lmms-eval's answers become the imported model's `original` rows and lm-eval's its `text_oracle` rows, next to
    ours in tables/semantic, perception and models: CIs, McNemar against its own original and against our model."""
    items = pl.read_parquet(tiny_export / "export" / "hf" / SPLIT_FILE)
    logs = tmp_path / "logs"
    heard = _lmms_samples(dataset, tasks["lmms_utils"], logs / "lmms" / "qwen2_audio")
    read = _lm_eval_samples(items.drop("audio"), logs / "lm_eval" / "Qwen__Qwen2-7B")
    (logs / "lm_eval" / "Qwen__Qwen2-7B" / "results_2026-12-05T01-02-03.123456.json").write_text(
        json.dumps({"config": {"model": "hf", "model_args": "pretrained=Qwen/Qwen2-7B"}}))
    out = tmp_path / "external" / "qwen2_audio"
    assert import_samples(logs=logs, hf=tiny_export / "export" / "hf", out=out) == ["original", "text_oracle"]

    original = pl.read_ndjson(out / "original" / "semantic.jsonl")
    assert original["item_id"].to_list() == items["item_id"].to_list()
    assert dict(zip(original["item_id"], original["correct"])) == heard
    assert original["parse_failure"].drop_nulls().unique().to_list() == ["no_option"]
    summary = json.loads((out / "original" / "semantic.summary.json").read_text())
    assert summary["model"]["model"] == "qwen2_audio" and summary["mode"] == "generate"
    assert summary["acc"] == pytest.approx(sum(heard.values()) / len(heard))
    oracle = pl.read_ndjson(out / "text_oracle" / "semantic.jsonl")
    assert dict(zip(oracle["item_id"], oracle["correct"])) == read
    summary = json.loads((out / "text_oracle" / "semantic.summary.json").read_text())
    assert summary["audio"] == "label" and summary["model"]["model_args"] == "pretrained=Qwen/Qwen2-7B"

    preds, conditions = _ours(items, tmp_path / "ours")
    for cond in ("original", "text_oracle"):
        preds["semantic"]["qwen2_audio", 0, cond] = str(out / cond / "semantic.jsonl")
    config = {"seed": 0, "evaluate": {"bootstrap": 200}, "model": {"backend": "mini_ltu"}, "external_models": [str(out)]}
    files = dict(config=config, wordnet_source=None, summaries={}, provenance=tmp_path / "p.json")
    (tmp_path / "source.json").write_text("{}")
    files["wordnet_source"] = tmp_path / "source.json"
    semantic_table(predictions={"semantic": preds["semantic"]}, conditions=conditions, csv=tmp_path / "s.csv",
                   md=tmp_path / "s.md", **files)
    table = pl.read_csv(tmp_path / "s.csv").with_columns(pl.col("model").fill_null(""))
    assert table.select("model", "condition").rows() == [
        *(("mini_ltu", c["name"]) for c in conditions), ("qwen2_audio", "original"), ("qwen2_audio", "text_oracle"),
        ("", "chance")]
    row = table.filter((pl.col("model") == "qwen2_audio") & (pl.col("condition") == "text_oracle")).row(0, named=True)
    assert row["overall_acc"] == pytest.approx(np.mean(list(read.values())))
    assert row["overall_lo"] <= row["overall_acc"] <= row["overall_hi"]
    a, b = [heard[i] for i in items["item_id"]], [read[i] for i in items["item_id"]]
    assert row["p_vs_original"] == pytest.approx(mcnemar(a, b), rel=1e-5)
    assert re.search(r"^\| qwen2_audio +\| original +\|", (tmp_path / "s.md").read_text(), flags=re.M)

    models_table(predictions=preds, conditions=conditions, csv=tmp_path / "m.csv", md=tmp_path / "m.md", **files)
    m = pl.read_csv(tmp_path / "m.csv")
    assert m.filter(pl.col("model") == "qwen2_audio")["condition"].to_list() == ["original", "text_oracle"]
    vs = m.filter((pl.col("model") == "qwen2_audio") & (pl.col("condition") == "original")).row(0, named=True)
    ours = [i % 2 == 0 for i in range(items.height)]
    assert vs["p_vs_first"] == pytest.approx(mcnemar(ours, a), rel=1e-5)
    assert vs["delta_vs_first"] == pytest.approx(np.mean(a) - np.mean(ours), abs=1e-6)
    assert "qwen2_audio SHARD" in (tmp_path / "m.md").read_text()

    test_items = tiny_export / "shard" / "test.parquet"
    pl.read_parquet(test_items).select("label", "synset").unique().with_columns(known=True).write_parquet(
        tmp_path / "pretrain_labels.parquet")  # every label taught: one row per condition, its labels "all"
    perception_table(predictions=preds, conditions=conditions, csv=tmp_path / "q.csv", md=tmp_path / "q.md",
                     test_items=test_items, pretrain_labels=tmp_path / "pretrain_labels.parquet", **files)
    q = pl.read_csv(tmp_path / "q.csv")
    external = q.filter(pl.col("model") == "qwen2_audio").row(0, named=True)
    assert external["condition"] == "original" and external["clips"] is None
    assert external["oracle_acc"] == pytest.approx(np.mean(b)) and external["all_acc"] == pytest.approx(np.mean(a))
    assert q.filter(pl.col("model") == "mini_ltu")["condition"].to_list() == ["original", "zeroshot_interleaved"]
    assert "a model imported from lmms-eval" in (tmp_path / "q.md").read_text()


def test_import_names_what_is_missing(tasks, dataset, tiny_export, tmp_path):
    hf = tiny_export / "export" / "hf"
    with pytest.raises(ShardError, match="no samples file of a SHARD task"):
        import_samples(logs=tmp_path, hf=hf, out=tmp_path / "out")
    _lmms_samples(dataset, tasks["lmms_utils"], tmp_path / "run")
    (tmp_path / "run" / "20261205_010203_samples_shard_mc4.jsonl").unlink()
    with pytest.raises(ShardError, match=r"but not of \['shard_mc4'\]; run the whole group"):
        import_samples(logs=tmp_path / "run", hf=hf, out=tmp_path / "out")
    path = tmp_path / "run" / "20261205_010203_samples_shard_yesno.jsonl"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:3]))
    (tmp_path / "run" / "20261205_010203_samples_shard_mc4.jsonl").write_text("")
    with pytest.raises(ShardError, match="exported items unanswered .* run every item"):
        import_samples(logs=tmp_path / "run", hf=hf, out=tmp_path / "out")


def test_lmms_eval_runs_the_task_with_its_dummy_model(tasks, tiny_export, tmp_path):
    """lmms-eval itself (where it is installed: a separate venv, README) on the exported group, `dummy` model."""
    pytest.importorskip("lmms_eval", reason="lmms-eval is not installed here (see README: a separate venv)")
    project = tmp_path / "project"
    shutil.copytree(tiny_export / "export" / "hf", project / HF)
    shutil.copytree(tasks["lmms"], project / "tasks" / "shard")
    run = subprocess.run([sys.executable, "-m", "lmms_eval", "--model", "dummy", "--tasks", "shard", "--include_path",
                          "tasks/shard", "--log_samples", "--output_path", "logs", "--batch_size", "1"],
                         cwd=project, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
                              "HF_HOME": str(tmp_path / "hf_home")})
    assert run.returncode == 0, run.stderr[-3000:]
    assert import_samples(logs=project / "logs", hf=project / HF, out=tmp_path / "dummy") == ["original"]
    assert pl.read_ndjson(tmp_path / "dummy" / "original" / "semantic.jsonl").height == \
        pl.read_parquet(project / HF / SPLIT_FILE, columns=["item_id"]).height


def test_external_models_are_named_by_their_folder():
    from shard.config import external_models, validate_config
    from tests.fixtures import ROOT

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert external_models(validate_config({**cfg, "external_models": ["results/external/qwen2_audio"]})) == {
        "qwen2_audio": "results/external/qwen2_audio"}
    for folders in (["results/external/mini_ltu"], ["a/qwen", "b/qwen"], ["results/external/qwen audio"]):
        with pytest.raises(ShardError, match="config key 'external_models'"):
            validate_config({**cfg, "external_models": folders})


def test_table_rules_read_the_imported_files(tasks, dataset, tiny_export, tmp_path):
    """rules/tables.smk: an external model's imported files are inputs of the semantic, perception and models
    tables only (a dry run of the tiny config; ~15 s)."""
    from tests.fixtures import copy_project, dry_run, tiny_workflow_config

    project = copy_project(tmp_path / "project")
    out = project / "results" / "external" / "qwen2_audio"
    logs = tmp_path / "logs"
    _lmms_samples(dataset, tasks["lmms_utils"], logs)
    import_samples(logs=logs, hf=tiny_export / "export" / "hf", out=out)
    (project / "tiny.yaml").write_text(yaml.safe_dump({**tiny_workflow_config(),
                                                       "external_models": ["results/external/qwen2_audio"]}))
    _, jobs = dry_run(project, "results/tables/semantic.md", "results/tables/labelling.md",
                      "results/tables/models.md")
    reading = {job.split("rule ")[1].split(":")[0] for job in jobs
               if "rule " in job and "results/external/qwen2_audio/original/semantic.jsonl" in job}
    assert reading == {"semantic_table", "models_table"}
