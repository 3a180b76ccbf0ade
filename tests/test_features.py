"""Front ends: stored shape/dtype, computed once per clip, batch independence, FeatureStore."""
from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from shard.dataset import features as F
from shard.common import ShardError
from tests.fixtures import build_tiny_results, tone

LOGMEL = {"n_mels": 64, "n_fft": 400, "hop_length": 160}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return build_tiny_results(tmp_path_factory.mktemp("feat"), classes=("Dog", "Siren", "Piano"), scenes=2, events=2)


def run(results, frontend="logmel", params=LOGMEL, name=None):
    name = name or frontend
    F.build_features(clips_parquet=results / "clips" / "clips.parquet", audio=results / "clips" / "audio.npy",
                     features=results / "features" / f"{name}.npy", meta=results / "features" / f"{name}.json",
                     silence=results / "features" / f"{name}.silence.npy", frontend=frontend, params=params,
                     sample_rate=16000, seconds=1.0)
    return np.load(results / "features" / f"{name}.npy")


def test_logmel_shape_dtype_meta_and_row_order(results):
    x = np.load(results / "features" / "logmel.npy")
    clips = pl.read_parquet(results / "clips" / "clips.parquet")
    assert x.dtype == np.float16 and x.shape == (clips.height, 64, 101)
    meta = json.loads((results / "features" / "logmel.json").read_text())
    assert meta["shape"] == list(x.shape) and meta["clip_ids_sha1"] == F.clip_ids_sha1(clips["clip_id"])
    pcm = np.load(results / "clips" / "audio.npy")
    row = int(clips["row"][3])
    one = F.featurize(pcm[row].astype(np.float32) / 32768, "logmel", LOGMEL)
    np.testing.assert_allclose(x[row].astype(np.float32), one, atol=0.05, rtol=1e-3)


def test_each_clip_is_featurized_once_and_batching_does_not_matter(results, monkeypatch):
    seen = []
    real = F.logmel
    monkeypatch.setattr(F, "logmel", lambda b, p, sr: seen.append(len(b)) or real(b, p, sr))  # the record's function
    monkeypatch.setattr(F, "BATCH", 4)
    x = run(results, name="logmel_b4")
    n = np.load(results / "clips" / "audio.npy", mmap_mode="r").shape[0]
    assert sum(seen) == n + 2  # every clip once, plus the one-clip probe for the output shape and the silent clip
    assert x.tobytes() == np.load(results / "features" / "logmel.npy").tobytes()


def test_ltu_fbank_matches_kaldi_layout(results):
    x = run(results, "ltu_fbank", {})
    assert x.shape[1:] == (128, 1024) and x.dtype == np.float16
    pad = np.float16((0 + 5.081) / 4.4849)
    assert (x[:, :, 98:] == pad).all() and not (x[:, :, :98] == pad).all()  # 1 s -> 98 Kaldi frames
    fb = F.featurize(tone(1.0, freq=1000.0), "ltu_fbank", {})
    centres = 700 * (np.exp(np.linspace(1127 * np.log(1 + 20 / 700), 1127 * np.log(1 + 8000 / 700), 130)[1:-1] / 1127) - 1)
    assert abs(centres[fb[:, 10:90].mean(axis=1).argmax()] - 1000) < 60


def test_feature_store_reads_rows_by_clip_id(results):
    store = F.FeatureStore(results / "features" / "logmel.npy", results / "clips" / "clips.parquet")
    clips = pl.read_parquet(results / "clips" / "clips.parquet")
    ids = clips["clip_id"].to_list()[::-1][:3]
    got = store.get(ids)
    full = np.load(results / "features" / "logmel.npy")
    assert got.shape == (3, 64, 101) and store.shape == full.shape
    np.testing.assert_array_equal(got, full[[int(clips.filter(pl.col("clip_id") == c)["row"][0]) for c in ids]])
    assert F.FeatureStore.from_results(results, "logmel").shape == full.shape
    with pytest.raises(ShardError, match="not in the feature store"):
        store.get(["nope"])


def test_feature_store_refuses_features_of_other_clips(results, tmp_path):
    clips = pl.read_parquet(results / "clips" / "clips.parquet")
    for name in ("logmel.npy", "logmel.json"):
        (tmp_path / name).write_bytes((results / "features" / name).read_bytes())
    # same number of clips, two of them swapped: the row count alone cannot tell
    ids = clips.sort("row")["clip_id"].to_list()
    ids[0], ids[1] = ids[1], ids[0]
    clips.sort("row").with_columns(pl.Series("clip_id", ids)).write_parquet(tmp_path / "clips.parquet")
    with pytest.raises(ShardError, match=r"logmel\.json.*clips\.parquet.*rebuild results/features/"):
        F.FeatureStore(tmp_path / "logmel.npy", tmp_path / "clips.parquet")
    (tmp_path / "logmel.json").unlink()  # no meta: only the row count is checked
    assert F.FeatureStore(tmp_path / "logmel.npy", tmp_path / "clips.parquet").shape[0] == clips.height


def test_bad_frontend_and_stale_inputs(results, tmp_path):
    with pytest.raises(ShardError, match="unknown front end 'mfcc'"):
        F.featurize(np.zeros(16000, np.float32), "mfcc", {})
    np.save(tmp_path / "audio.npy", np.zeros((2, 16000), np.int16))
    with pytest.raises(ShardError, match="rerun the clips rule"):
        F.build_features(clips_parquet=results / "clips" / "clips.parquet", audio=tmp_path / "audio.npy",
                         features=tmp_path / "f.npy", meta=tmp_path / "f.json", silence=tmp_path / "s.npy",
                         frontend="logmel", params=LOGMEL, sample_rate=16000, seconds=1.0)


def test_silence_features_for_the_blind_control(results):
    x = F.featurize(np.zeros(16000, np.float32), "logmel", LOGMEL)
    assert x.shape == (64, 101) and np.isfinite(x).all() and np.allclose(x, -100, atol=1e-3)
    stored = np.load(results / "features" / "logmel.silence.npy")  # written by the features stage, once
    assert stored.dtype == np.float16 and stored.shape == np.load(results / "features" / "logmel.npy").shape[1:]
    assert np.array_equal(stored, x.astype(np.float16))
