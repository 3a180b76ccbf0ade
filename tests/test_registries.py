"""The backend and front-end registries: a new one is one record, here in the test module and nowhere else, and the
config, the features stage and model loading take it; the schema's enums are the registries'."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
import yaml

from shard.dataset import features as F
from shard.common import ShardError
from shard.config import SCHEMA, registry_names, schema, validate_config
from shard.dataset.frontends import FRONTENDS, FrontEnd, feature_sets, model_feature_set
from shard.models import load_model
from shard.models.backends import BACKENDS, Backend
from tests.fixtures import build_features, build_tiny_results, clip_audio

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((ROOT / "config.yaml").read_text())
HOP = 160


def frame_stats(batch: np.ndarray, params: dict, sr: int) -> np.ndarray:
    """A front end of four bins: mean, standard deviation, max and min of every frame of `hop` samples."""
    hop = params["hop"]
    frames = batch[:, :batch.shape[1] // hop * hop].reshape(len(batch), -1, hop)
    return np.stack([frames.mean(-1), frames.std(-1), frames.max(-1), frames.min(-1)], 1).astype(np.float32)


# with settings of its own: the config section features.frame_stats, defaults filled like every other key's
FRAME_STATS = FrontEnd("frame_stats", "tests.test_registries:frame_stats", settings={
    "type": "object", "additionalProperties": False, "default": {},
    "properties": {"hop": {"type": "integer", "minimum": 1, "default": HOP}}})


def load_tiny(model_cfg: dict, base_dir: str, adapter_dir: str | None, device: torch.device):
    """A backend's loader: the tiny random mini_ltu of tests/test_models.py, on the device load_model chose."""
    from shard.models import AudioLLM
    from tests.test_models import tiny_llm

    llm = tiny_llm()
    return AudioLLM(llm.model, llm.processor, device, "tiny")


TINY = Backend("tiny", "tests.test_registries:load_tiny", base="any folder with a config.json", frontends=("logmel",))


@pytest.fixture
def frame_stats_registered(monkeypatch):
    monkeypatch.setitem(FRONTENDS, FRAME_STATS.name, FRAME_STATS)


@pytest.fixture
def tiny_registered(monkeypatch):
    monkeypatch.setitem(BACKENDS, TINY.name, TINY)


def config(**sections) -> dict:
    cfg = copy.deepcopy(DEFAULT)
    for name, values in sections.items():
        cfg[name].update(values)
    return cfg


# ---------------------------------------------------------------- front ends
def test_a_new_front_end_is_one_record(frame_stats_registered, tmp_path):
    cfg = validate_config(config(features={"frontends": ["logmel", "frame_stats"]}, model={"frontend": "frame_stats"}))
    assert cfg["model"]["frontend"] == "frame_stats"  # mini_ltu trains on any shared front end
    with pytest.raises(ShardError, match="'features.frontends.0': 'mfcc' is not one of"):
        validate_config(config(features={"frontends": ["mfcc"]}))
    # its settings are a config section checked by its record's schema, defaults filled
    assert cfg["features"]["frame_stats"] == {"hop": HOP}
    with pytest.raises(ShardError, match="'features.frame_stats.hop': 0 is less than the minimum of 1"):
        validate_config(config(features={"frontends": ["frame_stats"], "frame_stats": {"hop": 0}}))
    with pytest.raises(ShardError, match="config key 'features'.*'frame_statz' was unexpected"):
        validate_config(config(features={"frontends": ["frame_stats"], "frame_statz": {}}))

    # its features file, params and the features stage
    models = {"mini_ltu": {"model": cfg["model"]}}
    assert model_feature_set("mini_ltu", models["mini_ltu"]) == "frame_stats"
    assert feature_sets(models)["frame_stats"] == (FRAME_STATS, None)
    params = FRAME_STATS.params(cfg["features"])
    assert params == {"hop": HOP}
    results = build_tiny_results(tmp_path, classes=("Dog", "Siren"), scenes=1, events=2)
    out = results / "features"
    meta = build_features(results, "frame_stats", params)
    clips = pl.read_parquet(results / "clips" / "clips.parquet").sort("row")
    pcm = np.stack(list(clip_audio(results).values()))  # row order
    stored = F.FeatureStore(meta, results / "clips" / "clips.parquet").get(clips["clip_id"].to_list())
    assert stored.shape == (len(pcm), 4, 100) and stored.dtype == np.float16
    np.testing.assert_array_equal(stored, frame_stats(pcm.astype(np.float32) / 32768, params, 16000).astype(np.float16))
    assert json.loads((out / "frame_stats.json").read_text())["frontend"] == "frame_stats"
    assert F.FeatureStore(meta, results / "clips" / "clips.parquet").shape[0] == clips.height
    assert (np.load(out / "frame_stats.silence.npy") == 0).all()


def test_a_per_model_front_end_gives_each_model_its_own_file():
    hf = FRONTENDS["hf"]
    models = {"mini_ltu": {"model": {"frontend": "logmel", "base": None}},
              "qwen": {"model": {"frontend": "hf", "base": "/models/qwen"}}}
    assert [model_feature_set(m, s) for m, s in models.items()] == ["logmel", "hf_qwen"]
    # the names on disk: results/features/logmel.json, results/features/hf_{model}.json (+ their shards)
    assert list(feature_sets(models)) == ["logmel", "ltu_fbank", "hf_mini_ltu", "hf_qwen"]
    assert feature_sets(models)["hf_qwen"] == (hf, "qwen")
    assert hf.params({"logmel": {"n_mels": 64}}, models["qwen"]["model"]) == {"model": "/models/qwen"}
    assert FRONTENDS["logmel"].params({"logmel": {"n_mels": 64}}) == {"n_mels": 64}


# ---------------------------------------------------------------- backends
def test_a_new_backend_is_one_record(tiny_registered, tmp_path):
    base = tmp_path / "tiny"
    base.mkdir()
    (base / "config.json").write_text("{}")
    validate_config(config(model={"backend": "tiny", "base": str(base)}))
    for model, key, fix in [({"backend": "tiny", "base": None}, "model.base", "any folder with a config.json"),
                            ({"backend": "tiny", "base": str(base), "frontend": "ltu_fbank"}, "model.frontend",
                             "backend tiny reads 'logmel' features"),
                            ({"backend": "tiny", "base": str(base), "checkpoint": "x.bin"}, "model.checkpoint",
                             "read by the ltu backend only; remove it for tiny")]:
        with pytest.raises(ShardError, match=f"'{key}.*{fix}"):
            validate_config(config(model=model))
    llm = load_model({"backend": "tiny", "device": "cpu"}, str(base))
    assert llm.backend == "tiny" and llm.device == torch.device("cpu")


# ---------------------------------------------------------------- the schema and the registries
def test_schema_enums_are_the_registries():
    raw = yaml.safe_load(SCHEMA.read_text())["properties"]
    assert raw["model"]["properties"]["backend"]["x-registry"] == "backends"
    assert raw["model"]["properties"]["frontend"]["x-registry"] == "frontends"
    assert raw["features"]["properties"]["frontends"]["items"]["x-registry"] == "frontends"
    filled = schema()["properties"]
    assert filled["model"]["properties"]["backend"]["enum"] == list(BACKENDS) == registry_names("backends")
    assert filled["model"]["properties"]["frontend"]["enum"] == list(FRONTENDS) == registry_names("frontends")
    assert filled["features"]["properties"]["frontends"]["items"]["enum"] == list(FRONTENDS)
    assert all(name == record.name for registry in (BACKENDS, FRONTENDS) for name, record in registry.items())


def test_registries_are_light():
    """The Snakefile imports them to validate the config: neither torch nor transformers nor librosa."""
    code = ("import sys; from shard.config import registry_names; registry_names('backends'); "
            "registry_names('frontends'); print([m for m in ('torch', 'transformers', 'librosa') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
