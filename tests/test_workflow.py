"""End to end: the real Snakefile on a tiny config, from nothing to every table, then a rerun that
does nothing, and a second build from scratch that gives the same bytes."""
from __future__ import annotations

import copy
import filecmp
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from shard.corpora.synth import CLASSES

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ["shard/card.md", "prompts/leakage_audit.json", "tables/semantic.csv", "tables/semantic.md",
           "tables/semantic.tex", "tables/labeling.csv", "tables/labeling.md", "tables/labeling.tex",
           "tables/scaling.csv", "tables/scaling.md", "figures/tradeoff.png"]
# what must come out byte-identical from the same config
DETERMINISTIC = ["clips/audio.npy", "clips/rejects.parquet", "features/logmel.npy", "wordnet/label_synsets.parquet",
                 "wordnet/relations.parquet", "shard/test.parquet", "shard/train_pool.parquet", "shard/words.parquet",
                 "shard/card.md", "prompts/train_20.parquet", "prompts/train_500.parquet",
                 "prompts/eval_original.parquet", "prompts/eval_interleaved.parquet",
                 "prompts/labeling_original.parquet", "prompts/labeling_interleaved.parquet",
                 "models/base/model.safetensors", "models/ft_500/adapter_model.safetensors",
                 "eval/original/shard.jsonl", "eval/ft_500/shard.jsonl", "eval/blind/labeling.jsonl"]


def tiny_config() -> dict:
    cfg = copy.deepcopy(yaml.safe_load((ROOT / "config.yaml").read_text()))
    classes = [c.label for c in CLASSES.values() if c.default][:4]
    cfg["corpus"]["synth"].update(classes=classes, scenes_per_class=3, events_per_scene=3, scene_seconds=5.0)
    cfg["pretrain"].update(hidden_size=32, layers=1, heads=2, audio_tokens=2, projector_epochs=1, epochs=2,
                           batch_size=16, fact_repeats=1)
    cfg["finetune"].update(batch_size=8, checkpoint_every=20)
    cfg["prompts"]["train_scales"] = [20, 500]
    cfg["evaluate"].update(bootstrap=100, batch_size=16)
    return cfg


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
                           "--directory", str(workdir), "--configfile", str(workdir / "tiny.yaml"),
                           "--cores", "2", *args], capture_output=True, text=True, timeout=900, env=env)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    dirs = []
    for name in ("a", "b"):
        d = tmp_path_factory.mktemp(name)
        (d / "tiny.yaml").write_text(yaml.safe_dump(tiny_config()))
        out = snakemake(d)
        assert out.returncode == 0, out.stderr[-4000:]
        dirs.append(d)
    return dirs


def test_builds_every_target(runs):
    results = runs[0] / "results"
    for target in TARGETS:
        assert (results / target).stat().st_size > 0, target
    semantic = pl.read_csv(results / "tables/semantic.csv")
    conditions = set(semantic["condition"])
    assert {"original", "zeroshot_interleaved", "blind", "ft_20", "ft_500"} <= conditions
    for cond in ("original", "ft_500"):
        summary = json.loads((results / f"eval/{cond}/shard.summary.json").read_text())
        assert summary["n"] == pl.read_parquet(results / "shard/test.parquet").height
    assert (results / "models/ft_500/adapter_config.json").is_file()
    assert not (results / "models/ft_500.ckpt").exists()  # checkpoints are removed after success
    metrics = json.loads((results / "models/base/metrics.json").read_text())
    assert set(metrics) >= {"labelling_test", "facts"}
    logs = {p.name for p in (results / "logs").iterdir()}
    assert {"clips.log", "pretrain_base.log", "finetune_500.log", "semantic_table.log"} <= logs


def test_second_run_does_nothing(runs):
    out = snakemake(runs[0], "-n")
    assert out.returncode == 0
    assert "Nothing to be done" in out.stdout + out.stderr


def test_same_config_same_bytes(runs):
    a, b = (d / "results" for d in runs)
    for target in DETERMINISTIC + TARGETS:
        assert filecmp.cmp(a / target, b / target, shallow=False), target


def test_evaluation_setting_reruns_evaluation_not_training(runs, tmp_path):
    cfg = tiny_config()
    cfg["evaluate"]["bootstrap"] = 200
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(cfg))
    out = snakemake(runs[0], "-n", "--configfile", str(changed))
    jobs = out.stdout + out.stderr
    assert "rule evaluate:" in jobs and "rule semantic_table:" in jobs
    for rule in ("finetune", "pretrain_base", "shard_items", "clips"):
        assert f"rule {rule}:" not in jobs, rule
