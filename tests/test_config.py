"""Config validation: the embedded default passes; each kind of mistake names its key and the fix."""
from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shard.common import ShardError
from shard.config import load_config, outcome_config, scale_name, study_models, validate_config

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((ROOT / "config.yaml").read_text())


def bad(**edits):
    cfg = copy.deepcopy(DEFAULT)
    for dotted, value in edits.items():
        *parents, last = dotted.split("__")
        node = cfg
        for p in parents:
            node = node[p]
        node[last] = value
    return cfg


def test_default_config_is_valid():
    cfg = load_config(ROOT / "config.yaml")
    # schema defaults fill what config.yaml leaves out, and nothing it sets changes
    assert cfg["corpus"]["synth"].pop("classes") is None
    assert cfg["features"].pop("ltu_fbank") == {"num_mel_bins": 128, "target_length": 1024, "mean": -5.081, "std": 4.4849}
    assert {k: cfg["model"].pop(k) for k in ("checkpoint", "dtype", "architecture", "gradient_checkpointing")} == {
        "checkpoint": None, "dtype": None, "architecture": {}, "gradient_checkpointing": False}
    assert cfg["model"].pop("generate") == {"do_sample": False, "temperature": None, "top_p": None, "top_k": None,
                                            "repetition_penalty": None, "max_new_tokens": None, "seed": 0}
    assert cfg["finetune"].pop("recipe") == "lora"
    assert cfg.pop("models") == {}
    assert cfg.pop("external_models") == []
    assert cfg == DEFAULT


def test_layout_keys_leave_the_hashed_config():
    """clips.shards and evaluate.shards (x-layout) split work into jobs and change no output: the card and the
    provenance see the config without them, so the default's config hash is today's and the same for any number
    of shards."""
    from shard.common import config_hash

    cfg = load_config(ROOT / "config.yaml")
    sharded = copy.deepcopy(cfg)
    sharded["clips"]["shards"], sharded["evaluate"]["shards"] = 7, 3
    assert "shards" not in outcome_config(cfg)["clips"] and "shards" in cfg["clips"]  # a copy: cfg untouched
    assert config_hash(outcome_config(sharded)) == config_hash(outcome_config(cfg)) != config_hash(sharded)
    without = copy.deepcopy(cfg)
    del without["clips"]["shards"], without["evaluate"]["shards"]
    assert outcome_config(cfg) == without


def test_missing_key_is_named():
    cfg = copy.deepcopy(DEFAULT)
    del cfg["evaluate"]["ft_original"]
    with pytest.raises(ShardError, match="'evaluate': 'ft_original' is a required property; add it"):
        validate_config(cfg)
    cfg = copy.deepcopy(DEFAULT)
    del cfg["clips"]["sample_rate"]  # has a default: filled in, not an error
    assert validate_config(cfg)["clips"]["sample_rate"] == 16000


@pytest.mark.parametrize("edits, key, fix", [
    ({"corpus__kidn": "synth"}, "corpus", "fix its spelling"),
    ({"corpus__kind": "wav"}, "corpus.kind", "allowed values"),
    ({"clips__seconds": "one"}, "clips.seconds", "allowed values"),
    ({"prompts__train_scales": [0]}, "prompts.train_scales.0", "allowed values"),
    ({"corpus__kind": "esc50"}, "corpus.root", "set it to the corpus directory"),
    ({"corpus__kind": "esc50", "corpus__root": "/no/such/dir"}, "corpus.root", "point it at"),
    ({"model__base": "/no/such/ckpt"}, "model.base", "a directory saved by the pretrain_base rule"),
    ({"model__backend": "ltu", "model__frontend": "ltu_fbank"}, "model.base", "never downloaded"),
    ({"model__backend": "ltu"}, "model.frontend", "reads 'ltu_fbank' features"),
    ({"model__backend": "hf", "model__frontend": "hf", "model__base": "src"}, "model.base",
     "the audio LLM's local directory"),
    ({"model__checkpoint": "ltu.bin"}, "model.checkpoint", "read by the ltu backend only"),
    ({"model__frontend": "ltu_fbank"}, "model.frontend", "add it there"),
    ({"corpus__synth__classes": ["Dog", "Unicorn"]}, "corpus.synth.classes", "Unicorn"),
    ({"pretrain__heads": 3}, "pretrain.hidden_size", "multiple of the number of heads"),
    # a model of `models` is named in the key of its bad override
    ({"models": {"big": {"pretrain": {"hidden_size": 130}}}}, "models.big.pretrain.hidden_size", "multiple of the number"),
    ({"models": {"big": {"pretrain": {"hidden_size": "x"}}}}, "models.big.pretrain.hidden_size", "allowed values"),
    ({"models": {"qwen": {"model": {"backend": "hf", "frontend": "hf"}}}}, "models.qwen.model.base", "never downloaded"),
    ({"models": {"big": {"modle": {}}}}, "models.big", "fix its spelling"),
    ({"models": {"a/b": {}}}, "models", "allowed values"),
    ({"finetune__recipe": "authors"}, "finetune.recipe", "no fine-tuning recipe of its authors'"),
    ({"models": {"x": {"finetune": {"recipe": "authors"}}}}, "models.x.finetune.recipe", "set it to lora"),
])
def test_bad_config_names_the_key(edits, key, fix):
    with pytest.raises(ShardError) as err:
        validate_config(bad(**edits))
    assert f"'{key}" in str(err.value) and fix in str(err.value)


def test_ltu_needs_its_checkpoint_file(tmp_path):
    llama = tmp_path / "vicuna"
    llama.mkdir()
    (llama / "config.json").write_text("{}")
    edits = {"model__backend": "ltu", "model__frontend": "ltu_fbank", "model__base": str(llama),
             "features__frontends": ["ltu_fbank"]}
    with pytest.raises(ShardError, match="'model.checkpoint' is required for model.backend=ltu; set it to LTU's"):
        validate_config(bad(**edits))
    with pytest.raises(ShardError, match=f"'model.checkpoint': file '{tmp_path}/ltu.bin' does not exist"):
        validate_config(bad(**edits, model__checkpoint=str(tmp_path / "ltu.bin")))
    (tmp_path / "ltu.bin").write_bytes(b"")
    assert validate_config(bad(**edits, model__checkpoint=str(tmp_path / "ltu.bin")))["model"]["backend"] == "ltu"


def test_missing_config_file():
    with pytest.raises(ShardError, match="does not exist"):
        load_config("/no/such/config.yaml")


def test_scale_names():
    assert [scale_name(n) for n in (400, 10000, 40000, 1_000_000, 2500)] == ["400", "10k", "40k", "1m", "2500"]


def test_snakemake_stops_before_any_job(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(bad(clips__seconds=-1)))
    out = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", str(cfg),
                          "--directory", str(tmp_path), "--snakefile", str(ROOT / "Snakefile")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "invalid configuration: config key 'clips.seconds': -1 is less than" in out.stdout + out.stderr
    assert not (tmp_path / "results").exists()  # no job ran


def test_partial_configfile_overrides_the_default(tmp_path):
    """configs/paper_scales.yaml holds only the keys it changes, and works from any directory."""
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile",
                          str(ROOT / "configs/paper_scales.yaml"), "--directory", str(tmp_path),
                          "--snakefile", str(ROOT / "Snakefile"), "results/models/mini_ltu/seed0/ft_1m"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "train_prompts" in out.stdout and "ft_1m" in out.stdout


def test_models_merge_their_overrides_into_the_config():
    """Without `models` the one model is the config's own, named by its backend; each listed model is the
    config's model, pretrain and finetune sections with its own keys replaced."""
    cfg = validate_config(copy.deepcopy(DEFAULT))
    assert list(study_models(cfg)) == ["mini_ltu"] and study_models(cfg)["mini_ltu"]["pretrain"] == cfg["pretrain"]
    cfg = validate_config(bad(models={"mini_ltu": None, "mini_ltu_h256": {"pretrain": {"hidden_size": 256},
                                                                          "finetune": {"lora": {"r": 4}}}}))
    models = study_models(cfg)
    assert list(models) == ["mini_ltu", "mini_ltu_h256"]
    assert models["mini_ltu"]["pretrain"] == cfg["pretrain"]
    big = models["mini_ltu_h256"]
    assert big["pretrain"] == {**cfg["pretrain"], "hidden_size": 256}
    assert big["finetune"]["lora"] == {**cfg["finetune"]["lora"], "r": 4} and big["model"] == cfg["model"]
    assert cfg["pretrain"]["hidden_size"] == 128  # the config itself is untouched
