"""`python -m shard.harness import`: an lmms-eval or lm-eval `--log_samples` folder -> our per-item predictions.

    {out}/original/semantic.jsonl (+ .summary.json)      from lmms-eval's shard_yesno and shard_mc4 samples
    {out}/text_oracle/semantic.jsonl (+ .summary.json)   from lm-eval's shard_text_oracle samples

The records are those `evaluate` writes (shard.evaluation.evaluate), so config `external_models` can name `out`
and the model's rows join our tables. lmms-eval runs the clip first (our `original` condition); its answers are
parsed again here by extract_answer, against the exported items' options. lm-eval's text oracle is our
`text_oracle` condition: the option with the highest log-likelihood (`correct`) and per character
(`correct_norm`, lm-eval's acc_norm). Samples files are found anywhere under the folder by their names
(lmms-eval: {date}_samples_{task}.jsonl, lm-eval: samples_{task}_{date}.jsonl); each task must have one, with
every item of the export once. Deterministic: sorted like the export, no paths but file names.
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import polars as pl

from shard.common import ShardError, sha1_file, write_json, write_jsonl
from shard.dataset.export import SPLIT_FILE
from shard.evaluation.evaluate import extract_answer, pick_options, semantic_metrics
from shard.harness.task_docs import METRIC

log = logging.getLogger("shard")

# condition -> (harness, its tasks, mode, prompt format, what replaces the clip)
CONDITIONS = {"original": ("lmms-eval", ("shard_yesno", "shard_mc4"), "generate", "original", "clip"),
              "text_oracle": ("lm-eval", ("shard_text_oracle",), "loglik", "interleaved", "label")}
TASKS = [task for _, tasks, *_ in CONDITIONS.values() for task in tasks]
TASK_IN_NAME = re.compile(rf"(?:^|_)samples_({'|'.join(TASKS)})(?:_.*)?\.jsonl$")


def samples_files(logs: Path) -> dict[str, Path]:
    """task -> its samples file under `logs`; one per task (a folder of one run per task)."""
    found: dict[str, list[Path]] = {}
    for path in sorted(logs.rglob("*samples_shard_*.jsonl")):
        match = TASK_IN_NAME.search(path.name)
        if match:
            found.setdefault(match.group(1), []).append(path)
    several = {task: [str(p) for p in paths] for task, paths in found.items() if len(paths) > 1}
    if several:
        raise ShardError(f"{logs}: several samples files for one task {several}; point the import at one run's folder")
    return {task: paths[0] for task, paths in found.items()}


def _samples(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _first(value):
    """A response unwrapped from the lists the harnesses put around it (versions differ in how deep)."""
    while isinstance(value, list) and len(value) == 1 and isinstance(value[0], (list, str)):
        value = value[0]
    return value


def _item_id(sample: dict, path: Path) -> str:
    named = sample.get(METRIC) if isinstance(sample.get(METRIC), dict) else sample.get("doc") or {}
    if "item_id" not in named:
        raise ShardError(f"{path}: a sample names no item_id (doc_id {sample.get('doc_id')}); run the task folders "
                         "the SHARD workflow exports (results/export/lmms_eval, results/export/lm_eval)")
    return named["item_id"]


def _generated(sample: dict, item: dict) -> dict:
    text = _first(sample["filtered_resps"])
    if not isinstance(text, str):
        raise ShardError(f"item {item['item_id']}: expected a generated answer, found {text!r}")
    options = list(item["options"])
    index, failure = extract_answer(text, options, item["format"])
    return {"generation": text, "prediction": None if index is None else options[index], "option_scores": None,
            "correct": index == item["answer_index"], "parse_ok": failure is None, "parse_failure": failure}


def _scored(sample: dict, item: dict) -> dict:
    options = list(item["options"])
    scores = [float(_first(r)[0]) for r in sample["filtered_resps"]]
    if len(scores) != len(options):
        raise ShardError(f"item {item['item_id']}: {len(scores)} log-likelihoods for {len(options)} options")
    best, best_norm = pick_options([(s, 0) for s in scores], options)
    return {"prediction": options[best], "option_scores": scores, "correct": best == item["answer_index"],
            "prediction_norm": options[best_norm], "correct_norm": best_norm == item["answer_index"]}


def _records(items: pl.DataFrame, files: list[Path], mode: str) -> list[dict]:
    by_item: dict[str, tuple[dict, Path]] = {}
    for path in files:
        for sample in _samples(path):
            key = _item_id(sample, path)
            if key in by_item:
                raise ShardError(f"{path}: item {key} answered twice; import one run")
            by_item[key] = sample, path
    missing = [i for i in items["item_id"] if i not in by_item]
    unknown = sorted(set(by_item) - set(items["item_id"]))
    if missing or unknown:
        raise ShardError(f"{', '.join(map(str, files))}: {len(missing)} exported items unanswered ({missing[:3]}) and "
                         f"{len(unknown)} unknown ({unknown[:3]}); run every item (no --limit) of this export")
    score = _generated if mode == "generate" else _scored
    return [{"prompt_id": item["item_id"], "item_id": item["item_id"], "clip_id": item["clip_id"],
             "relation": item["relation"], "question_format": item["format"], "n_options": len(item["options"]),
             **score(by_item[item["item_id"]][0], item)} for item in items.iter_rows(named=True)]


def _run_config(folder: Path) -> dict:
    """What the results file beside the samples says of the model (its name and arguments), where there is one."""
    for path in sorted(folder.glob("*results*.json")):
        try:
            config = json.loads(path.read_text(encoding="utf-8")).get("config", {})
        except (json.JSONDecodeError, AttributeError):
            continue
        if isinstance(config, dict) and "model" in config:
            return {"model": config.get("model"), "model_args": config.get("model_args")}
    return {"model": None, "model_args": None}


def import_samples(*, logs, hf, out) -> list[str]:
    """Every condition whose samples are under `logs` -> out/{condition}/semantic.jsonl and .summary.json,
    scored against the export `hf`; returns the conditions written."""
    logs, out = Path(logs), Path(out)
    items = pl.read_parquet(Path(hf) / SPLIT_FILE, columns=["item_id", "clip_id", "relation", "format", "options",
                                                            "answer_index"])
    found = samples_files(logs)
    written = []
    for condition, (harness, tasks, mode, fmt, audio) in CONDITIONS.items():
        present = [t for t in tasks if t in found]
        if not present:
            continue
        if len(present) < len(tasks):
            raise ShardError(f"{logs}: samples of {present} but not of {sorted(set(tasks) - set(present))}; "
                             f"run the whole group (--tasks shard)")
        files = [found[t] for t in tasks]
        records = _records(items, files, mode)
        write_jsonl(records, out / condition / "semantic.jsonl")
        model = {"harness": harness, **_run_config(files[0].parent), "name": out.name,
                 "samples": {f.name: sha1_file(f) for f in files}}
        write_json({"condition": condition, "task": "semantic", "format": fmt, "mode": mode, "audio": audio,
                    **semantic_metrics(records, mode), "model": model}, out / condition / "semantic.summary.json")
        log.info("%s: %s, %d items, acc %.4f -> %s", logs, condition, len(records),
                 sum(r["correct"] for r in records) / max(len(records), 1), out / condition)
        written.append(condition)
    if not written:
        raise ShardError(f"{logs}: no samples file of a SHARD task (*samples_shard_*.jsonl); run lmms-eval or lm-eval "
                         "with --log_samples --output_path on the exported tasks")
    return written
