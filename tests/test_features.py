"""Front ends: stored shape/dtype, computed once per clip, batch independence, FeatureStore (lazy, by shard)."""
from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from shard.dataset import features as F
from shard.common import ShardError
from shard.dataset.shards import ShardStore
from tests.fixtures import build_features, build_tiny_results, shard_audio, tone

LOGMEL = {"n_mels": 64, "n_fft": 400, "hop_length": 160}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return build_tiny_results(tmp_path_factory.mktemp("feat"), classes=("Dog", "Siren", "Piano"), scenes=2, events=2)


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    """The same corpus cut into 3 shards."""
    return build_tiny_results(tmp_path_factory.mktemp("feat3"), classes=("Dog", "Siren", "Piano"), scenes=2, events=2,
                              shards=3)


def stored(results, name="logmel") -> np.ndarray:
    """A feature set's every clip, in clips.parquet row order, read through FeatureStore."""
    ids = pl.read_parquet(results / "clips" / "clips.parquet").sort("row")["clip_id"].to_list()
    return F.FeatureStore(results / "features" / f"{name}.json", results / "clips" / "clips.parquet").get(ids)


def clip_audio(results) -> np.ndarray:
    ids = pl.read_parquet(results / "clips" / "clips.parquet").sort("row")["clip_id"].to_list()
    return ShardStore(results / "clips" / "index.parquet", lambda k: shard_audio(results, k)).get(ids)


def run(results, frontend="logmel", params=LOGMEL, name=None):
    build_features(results, frontend, params, name)
    return stored(results, name or frontend)


def test_logmel_shape_dtype_meta_and_row_order(results):
    x = stored(results)
    clips = pl.read_parquet(results / "clips" / "clips.parquet")
    assert x.dtype == np.float16 and x.shape == (clips.height, 64, 101)
    meta = json.loads((results / "features" / "logmel.json").read_text())
    assert meta["shape"] == list(x.shape) and meta["clip_ids_sha1"] == F.clip_ids_sha1(clips["clip_id"])
    assert meta["index"] == "../clips/index.parquet"  # relative: the same in any checkout
    pcm = clip_audio(results)
    row = int(clips["row"][3])
    one = F.featurize(pcm[row].astype(np.float32) / 32768, "logmel", LOGMEL)
    np.testing.assert_allclose(x[row].astype(np.float32), one, atol=0.05, rtol=1e-3)


def test_each_clip_is_featurized_once_and_batching_does_not_matter(results, monkeypatch):
    seen = []
    real = F.logmel
    monkeypatch.setattr(F, "logmel", lambda b, p, sr: seen.append(len(b)) or real(b, p, sr))  # the record's function
    monkeypatch.setattr(F, "BATCH", 4)
    x = run(results, name="logmel_b4")
    n = np.load(shard_audio(results, 0), mmap_mode="r").shape[0]  # one shard: every segment's row
    assert sum(seen) == n + 2  # every row once, plus the one-clip probe for the output shape and the silent clip
    assert x.tobytes() == stored(results).tobytes()


def test_ltu_fbank_matches_kaldi_layout(results):
    x = run(results, "ltu_fbank", {})
    assert x.shape[1:] == (128, 1024) and x.dtype == np.float16
    pad = np.float16((0 + 5.081) / 4.4849)
    assert (x[:, :, 98:] == pad).all() and not (x[:, :, :98] == pad).all()  # 1 s -> 98 Kaldi frames
    fb = F.featurize(tone(1.0, freq=1000.0), "ltu_fbank", {})
    centres = 700 * (np.exp(np.linspace(1127 * np.log(1 + 20 / 700), 1127 * np.log(1 + 8000 / 700), 130)[1:-1] / 1127) - 1)
    assert abs(centres[fb[:, 10:90].mean(axis=1).argmax()] - 1000) < 60


def test_feature_store_reads_rows_by_clip_id(results):
    store = F.FeatureStore(results / "features" / "logmel.json", results / "clips" / "clips.parquet")
    clips = pl.read_parquet(results / "clips" / "clips.parquet")
    ids = clips["clip_id"].to_list()[::-1][:3]
    got = store.get(ids)
    full = stored(results)
    assert got.shape == (3, 64, 101) and store.shape == full.shape
    np.testing.assert_array_equal(got, full[[int(clips.filter(pl.col("clip_id") == c)["row"][0]) for c in ids]])
    assert F.FeatureStore.from_results(results, "logmel").shape == full.shape
    with pytest.raises(ShardError, match="not in the clip index"):
        store.get(["nope"])


def test_feature_store_opens_shards_lazily_a_few_at_a_time(results, sharded):
    """3 shards: the same features as one shard, clip for clip; a shard is opened only when one of its rows is
    asked for, and no more than max_open stay open."""
    assert (sharded / "clips" / "clips.parquet").read_bytes() == (results / "clips" / "clips.parquet").read_bytes()
    assert stored(sharded).tobytes() == stored(results).tobytes()
    index = pl.read_parquet(sharded / "clips" / "index.parquet")
    assert sorted(index["shard"].unique()) == [0, 1, 2]
    store = F.FeatureStore(sharded / "features" / "logmel.json", sharded / "clips" / "clips.parquet", max_open=2)
    assert store.store.open_shards == []  # nothing opened up front
    first_of = {k: index.filter(pl.col("shard") == k)["clip_id"][0] for k in (0, 1, 2)}
    store.get([first_of[1]])
    assert store.store.open_shards == [1]
    # rows of two shards, asked for out of order, come back in the order asked
    ids = [first_of[2], first_of[0], first_of[2]]
    reference = F.FeatureStore(results / "features" / "logmel.json", results / "clips" / "clips.parquet")
    assert store.get(ids).tobytes() == reference.get(ids).tobytes()
    assert len(store.store.open_shards) == 2 and 1 not in store.store.open_shards  # least recently used closed
    # each shard's array holds only its own files' rows
    rows = {k: np.load(sharded / "features" / "logmel" / f"{k}.npy", mmap_mode="r").shape[0] for k in (0, 1, 2)}
    assert sum(rows.values()) == np.load(results / "features" / "logmel" / "0.npy", mmap_mode="r").shape[0]


def test_feature_store_refuses_features_of_other_clips(results, tmp_path):
    clips = pl.read_parquet(results / "clips" / "clips.parquet")
    (tmp_path / "logmel.json").write_bytes((results / "features" / "logmel.json").read_bytes())
    # same number of clips, two of them swapped: the row count alone cannot tell
    ids = clips.sort("row")["clip_id"].to_list()
    ids[0], ids[1] = ids[1], ids[0]
    clips.sort("row").with_columns(pl.Series("clip_id", ids)).write_parquet(tmp_path / "clips.parquet")
    with pytest.raises(ShardError, match=r"logmel\.json.*clips\.parquet.*rebuild results/features/"):
        F.FeatureStore(tmp_path / "logmel.json", tmp_path / "clips.parquet")
    (tmp_path / "logmel.json").unlink()  # no meta: no store (it names the index and checks the clips)
    with pytest.raises(ShardError, match=r"logmel\.json.*rerun the features rule"):
        F.FeatureStore(tmp_path / "logmel.json", tmp_path / "clips.parquet")


def test_bad_frontend_and_stale_inputs(results, tmp_path):
    with pytest.raises(ShardError, match="unknown front end 'mfcc'"):
        F.featurize(np.zeros(16000, np.float32), "mfcc", {})
    pl.DataFrame({"clip_id": ["a", "b"], "shard": [0, 0], "shard_row": [0, 1]}).write_parquet(tmp_path / "index.parquet")
    with pytest.raises(ShardError, match="rerun the clips rule"):
        F.gather_features(clips_parquet=results / "clips" / "clips.parquet", index=tmp_path / "index.parquet",
                          shards=[results / "features" / "logmel" / "0.npy"], meta=tmp_path / "f.json",
                          silence=tmp_path / "s.npy", frontend="logmel", params=LOGMEL, sample_rate=16000, seconds=1.0)


def test_shard_store_reads_runs_of_rows_and_names_a_truncated_shard(tmp_path):
    """Rows asked in any order, with repeats and runs of consecutive rows, come back exactly as stored; a shard cut
    short is one ShardError naming the file, not garbage rows."""
    from shard.common import write_parquet
    from shard.dataset.shards import npy_rows

    data = {k: np.arange(k * 1000, k * 1000 + 20 * 6, dtype=np.float16).reshape(20, 2, 3) for k in (0, 1)}
    for k, a in data.items():
        with npy_rows(tmp_path / f"{k}.npy", a.shape, a.dtype) as out:
            out.write(a)
    ids = [f"c{k}_{r:02d}" for k in data for r in range(20)]
    write_parquet(pl.DataFrame({"clip_id": ids, "shard": [int(i[1]) for i in ids], "shard_row": [int(i[3:]) for i in ids]}),
                  tmp_path / "index.parquet")
    store = ShardStore(tmp_path / "index.parquet", lambda k: tmp_path / f"{k}.npy", max_open=1)
    asked = ["c1_05", "c0_03", "c0_04", "c0_05", "c1_19", "c0_03", "c1_06", "c0_19"]
    want = np.stack([data[int(i[1])][int(i[3:])] for i in asked])
    assert store.get(asked).tobytes() == want.tobytes()
    assert store.get([]).shape == (0, 2, 3)
    size = (tmp_path / "1.npy").stat().st_size
    with open(tmp_path / "1.npy", "r+b") as fh:
        fh.truncate(size - 6)  # the last row loses half its bytes
    with pytest.raises(ShardError, match=r"1\.npy' ends early"):
        ShardStore(tmp_path / "index.parquet", lambda k: tmp_path / f"{k}.npy").get(["c1_19"])
