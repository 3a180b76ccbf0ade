"""The real-model backends through the real Snakefile: the `hf` backend end to end on tiny random Qwen2-Audio,
Audio Flamingo 3 and Voxtral beside a tiny mini_ltu (every table, config `models`), and the study's LTU config
planned (`-n`) on a tiny LTU checkpoint."""
from __future__ import annotations

import re

import polars as pl
import pytest
import yaml

from shard.dataset.features import FeatureStore
from tests.fixtures import copy_project, dry_run, snakemake
from tests.hf_tiny import installed
from tests.ltu_tiny import ARCH, write_tiny_ltu

TABLES = ["semantic.csv", "semantic.md", "labelling.csv", "labelling.md", "scaling.csv", "artifacts.csv", "models.csv",
          "models.md", "perception.csv", "forgetting.csv"]


@pytest.mark.slow
def test_two_models_run_the_study_side_by_side(two_models_on_a_tiny_corpus):
    """A tiny mini_ltu (pretrained here, log-mel) and tiny random Qwen2-Audio, Audio Flamingo 3 and Voxtral (hf
    backend, each its own Whisper front end) through every table on the same items, every condition of the
    study's design, interleaved ones included: config `models` (the run is conftest's, on a tiny manifest
    corpus)."""
    results = two_models_on_a_tiny_corpus / "results"
    hf_models = installed()
    for name in TABLES:
        assert (results / "tables" / name).stat().st_size > 0, name
    assert (results / "models" / "mini_ltu" / "seed0" / "base").is_dir()
    semantic = pl.read_csv(results / "tables" / "semantic.csv").filter(pl.col("condition") != "chance")
    for model in ("mini_ltu", *hf_models):
        assert {"original", "zeroshot_interleaved", "blind", "text_oracle", "ft_20", "blind_ft_20"} <= set(
            semantic.filter(pl.col("model") == model)["condition"]), model
    assert semantic["overall_n"].min() > 0 and semantic["overall_n"].n_unique() == 1  # the same items for all
    side = pl.read_csv(results / "tables" / "models.csv")
    assert side["model"].unique(maintain_order=True).to_list() == ["mini_ltu", *hf_models]  # in config order
    for model in hf_models:
        assert not (results / "models" / model / "seed0" / "base").exists()  # a configured base is never pretrained
        assert not (results / "eval" / model / "seed0" / "base_model.json").exists()
        assert side.filter(pl.col("model") == model)["delta_vs_first"].null_count() == 0, model
        # each model's own front end, unpadded (1 s clips are 100 Whisper frames, not 3000)
        features = FeatureStore(results / "features" / f"hf_{model}.json", results / "clips" / "clips.parquet")
        assert features.shape[1:] == (16, 100), model
        adapter = yaml.safe_load((results / "models" / model / "seed0" / "ft_20" / "adapter_config.json").read_text())
        assert "language_model" in adapter["target_modules"] and "audio_tower" not in adapter["target_modules"]
        log = (results / "logs" / model / "seed0" / "finetune_20.log").read_text()
        assert "fine-tuned" in log
    assert (results / "features" / "logmel.json").is_file()


def test_ltu_config_plans_the_whole_study(tmp_path):
    """configs/ltu.yaml with its paths pointed at a tiny LTU: data, two fine-tuning jobs on a GPU, every
    evaluation and table."""
    paths = write_tiny_ltu(tmp_path / "ltu")
    corpus = tmp_path / "ESC-50-master"
    (corpus / "meta").mkdir(parents=True)
    overlay = tmp_path / "paths.yaml"
    overlay.write_text(yaml.safe_dump({"corpus": {"root": str(corpus)},
                                       "model": {**paths, "architecture": ARCH}}))
    counts, jobs = dry_run(copy_project(tmp_path / "project"), configfiles=("configs/ltu.yaml", overlay))
    assert counts["finetune"] == "2" and "pretrain_base" not in counts
    assert {"corpus", "clips", "features", "wordnet", "shard_items", "semantic_table", "labelling_table",
            "scaling_table", "tradeoff_figure"} <= set(counts)
    # original, zero-shot interleaved, blind (x 2 tasks), text_oracle; per scale ft (x 2), its blind and text oracle
    assert counts["evaluate"] == str(7 + 2 * 4)
    finetune_jobs = [j for j in jobs if re.search(r"rule finetune:", j)]
    assert len(finetune_jobs) == 2 and all("gpu=1" in j for j in finetune_jobs)
    assert {"ft_40k", "ft_1m"} == set(re.findall(r"models/ltu/seed0/(ft_\w+)\.?", " ".join(finetune_jobs))) - {"ft_"}


@pytest.mark.parametrize("config, key", [("ltu.yaml", "model.base"), ("qwen2_audio.yaml", "model.base")])
def test_real_configs_stop_at_validation_without_their_paths(tmp_path, config, key):
    corpus = tmp_path / "ESC-50-master"
    corpus.mkdir()
    overlay = tmp_path / "paths.yaml"
    overlay.write_text(yaml.safe_dump({"corpus": {"root": str(corpus)}}))
    out = snakemake(copy_project(tmp_path / "project"), "-n", configfiles=(f"configs/{config}", overlay))
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert f"invalid configuration: config key '{key}'" in text and "set it to" in text, text[-3000:]
