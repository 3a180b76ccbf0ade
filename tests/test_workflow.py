"""End to end: the real Snakefile on a tiny config, from nothing to every table, then a rerun that
does nothing, and a second build from scratch, from a copy of the project in another folder, that
gives the same bytes for every file under results/."""
from __future__ import annotations

import filecmp
import json
import os
import re

import polars as pl
import pytest
import yaml

from shard.kernels import pin_cpu_kernels
from tests.fixtures import results_files, snakemake, tiny_workflow_config

TARGETS = ["shard/card.md", "prompts/leakage_audit.json", "eval/mini_ltu/seed0/base_model.json", "tables/perception.csv",
           "tables/perception.md", "tables/forgetting.csv", "tables/forgetting.md", "figures/forgetting.png",
           "tables/semantic.csv",
           "tables/semantic.md", "tables/semantic.tex", "tables/labelling.csv", "tables/labelling.md",
           "tables/labelling.tex", "tables/scaling.csv", "tables/scaling.md", "figures/tradeoff.png", "tables/models.csv",
           "tables/models.md"]


# The files whose names or bytes depend on clips.shards (tiny_runs' second clone runs 3 shards), and only those
# (docs/formats.md, "Sharded clips"): the plan, the clip index, the shards' clip tables and rejects, and each
# feature set's shard arrays. Everything else, features/NAME.json included, is compared byte for byte.
SHARD_LAYOUT = re.compile(r"clips/plan\.json|clips/index\.parquet|clips/shards/\d+(\.rejects)?\.parquet"
                          r"|features/[^/]+/\d+\.npy")


@pytest.mark.slow
def test_builds_every_target(tiny_runs):
    results = tiny_runs[0] / "results"
    for target in TARGETS:
        assert (results / target).stat().st_size > 0, target
    semantic = pl.read_csv(results / "tables/semantic.csv")
    conditions = set(semantic["condition"])
    assert {"original", "zeroshot_interleaved", "blind", "ft_20", "ft_500"} <= conditions
    for cond in ("original", "ft_500"):
        summary = json.loads((results / f"eval/mini_ltu/seed0/{cond}/semantic.summary.json").read_text())
        assert summary["n"] == pl.read_parquet(results / "shard/test.parquet").height
    assert (results / "models/mini_ltu/seed0/ft_500/adapter_config.json").is_file()
    assert not (results / "models/mini_ltu/seed0/ft_500.ckpt").exists()  # checkpoints are removed after success
    metrics = json.loads((results / "eval/mini_ltu/seed0/base_model.json").read_text())
    assert set(metrics) >= {"labelling_train", "label_qa", "facts_yesno", "facts_mc4"}
    logs = {str(p.relative_to(results / "logs")) for p in (results / "logs").rglob("*.log")}
    assert {"clips.log", "mini_ltu/seed0/pretrain_base.log", "mini_ltu/seed0/finetune_500.log", "semantic_table.log"} <= logs
    # the jobs ran with the portable CPU kernels (shard.kernels.pin_cpu_kernels), and the provenance says so
    provenance = json.loads((results / "tables/semantic.provenance.json").read_text())
    if pin_cpu_kernels({}):  # x86
        assert provenance["cpu_kernels"] == pin_cpu_kernels(dict(os.environ))


@pytest.mark.slow
def test_second_run_does_nothing(tiny_runs):
    out = snakemake(tiny_runs[0], "-n")
    assert out.returncode == 0
    assert "Nothing to be done" in out.stdout + out.stderr


@pytest.mark.slow
def test_two_folders_same_bytes(tiny_runs):
    """Two checkouts with different folder names and path lengths write the same bytes, file for file, except the
    shard layout's own files. The second cut clips and features into 3 shards (clips.shards: 3;
    conftest.second_clone_config): its clips, items, prompts, models, predictions and tables are the unsharded run's."""
    a, b = tiny_runs
    assert len(str(a)) != len(str(b)) and a.name != b.name
    files = [f for f in results_files(a) if not SHARD_LAYOUT.fullmatch(f)]
    assert files == [f for f in results_files(b) if not SHARD_LAYOUT.fullmatch(f)]
    # the second clone's layout really is sharded: 3 clip shards, the first clone's 1
    assert {f for f in results_files(b) if f.startswith("features/logmel/")} == {f"features/logmel/{k}.npy" for k in range(3)}
    assert {f for f in results_files(a) if f.startswith("features/logmel/")} == {"features/logmel/0.npy"}
    assert not any(f.startswith("clips/shards/") and f.endswith(".npy") for f in results_files(a))  # temp(): deleted
    assert {"corpus/segments.parquet", "clips/clips.parquet", "models/mini_ltu/seed0/base/tokenizer.json",
            "models/mini_ltu/seed0/base/model.safetensors", "models/mini_ltu/seed0/ft_500/adapter_model.safetensors",
            "models/mini_ltu/seed0/base/train_log.csv",
            "eval/mini_ltu/seed0/ft_500/semantic.jsonl", "wordnet/source.json", "tables/semantic.provenance.json"} <= set(files)
    different = [f for f in files if not filecmp.cmp(a / "results" / f, b / "results" / f, shallow=False)]
    assert not different
    # and no file names the folder it was written in
    for f in files:
        data = (b / "results" / f).read_bytes()
        assert str(b.parent).encode() not in data and b.name.encode() not in data, f


@pytest.mark.slow
def test_evaluation_setting_reruns_evaluation_not_training(tiny_runs, tmp_path):
    cfg = tiny_workflow_config()
    cfg["evaluate"]["bootstrap"] = 200
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(cfg))
    out = snakemake(tiny_runs[0], "-n", "--configfile", str(changed))
    jobs = out.stdout + out.stderr
    assert "rule evaluate:" in jobs and "rule semantic_table:" in jobs
    for rule in ("finetune", "pretrain_base", "shard_items", "clips"):
        assert f"rule {rule}:" not in jobs, rule


def _tiny_plan(tmp_path, **edits) -> tuple[dict[str, str], list[str]]:
    """The tiny config with top-level `edits`, planned (`snakemake -n`) in a copy of the project."""
    from tests.fixtures import copy_project, dry_run

    project = copy_project(tmp_path / "project")
    (project / "tiny.yaml").write_text(yaml.safe_dump({**tiny_workflow_config(), **edits}))
    return dry_run(project)


def _job(jobs: list[str], rule: str) -> str:
    return next(j for j in jobs if f"rule {rule}:" in j)


def test_seeds_replicate_the_models_not_the_items(tmp_path):
    """seeds: [0, 1] plans one pretraining and one adapter per scale per seed, on one set of items and prompts,
    and every table reads both seeds' predictions."""
    counts, jobs = _tiny_plan(tmp_path, seeds=[0, 1])
    assert (counts["pretrain_base"], counts["finetune"], counts["base_metrics"]) == ("2", "4", "2")
    assert (counts["shard_items"], counts["train_prompts"], counts["eval_prompts"]) == ("1", "2", "1")
    table_job = _job(jobs, "semantic_table")
    assert "results/eval/mini_ltu/seed0/ft_500/semantic.jsonl" in table_job and "results/eval/mini_ltu/seed1/ft_500/semantic.jsonl" in table_job


def test_models_share_the_items_and_the_features(tmp_path):
    """models x seeds: two mini_ltu sizes, two seeds each, plan one pretraining per (model, seed) and one
    adapter per scale, on one set of items, prompts and features; every table and tables/models read every
    model's and seed's predictions."""
    counts, jobs = _tiny_plan(tmp_path, models={"mini_ltu": {}, "mini_ltu_h48": {"pretrain": {"hidden_size": 48}}},
                              seeds=[0, 1])
    assert (counts["pretrain_base"], counts["finetune"], counts["base_metrics"]) == ("4", "8", "4")
    assert (counts["shard_items"], counts["features"], counts["train_prompts"]) == ("1", "1", "2")
    assert counts["models_table"] == "1" and int(counts["evaluate"]) == 2 * 2 * 15
    for table in ("semantic_table", "models_table"):
        job = _job(jobs, table)
        for model in ("mini_ltu", "mini_ltu_h48"):
            assert all(f"results/eval/{model}/seed{k}/ft_500/semantic.jsonl" in job for k in (0, 1)), model


def test_peak_memory_is_this_process_high_water_mark():
    """The peak every rule's log ends with: it counts an allocation after it is freed, and it starts from the
    process's own memory, not its parent's (fresh children of this pytest, which holds more than either)."""
    import subprocess
    import sys

    def child(code: str) -> float:
        out = subprocess.run([sys.executable, "-c", f"import numpy as np\n{code}\nfrom shard.workflow import "
                              "peak_rss_mb; print(peak_rss_mb())"], capture_output=True, text=True, check=True)
        return float(out.stdout)

    idle, used = child("pass"), child("block = np.ones(300 * 2**20 // 8); del block")  # 300 MB, touched, freed
    assert idle < 150 and used > idle + 250
