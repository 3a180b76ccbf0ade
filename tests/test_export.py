"""The Hugging Face export (shard.dataset.export): `datasets.load_dataset(folder)` reads it offline, with an Audio column.

Skipped where `datasets` is not installed. The Audio column is read undecoded and its WAV bytes decoded
with soundfile: `datasets` decodes audio through torchcodec, whose PyPI wheels need CUDA libraries
(no CPU build matches torch 2.13 here); where torchcodec works, its decoding is checked too.
"""
from __future__ import annotations

import io
import shutil

import numpy as np
import polars as pl
import pytest
import soundfile as sf
import yaml

from shard.dataset.export import SPLIT_FILE
from tests.fixtures import clip_audio, export_tiny

datasets = pytest.importorskip("datasets", reason="the `datasets` package reads the export (pip install datasets)")


@pytest.fixture(scope="module")
def results(tiny_export):
    return tiny_export


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network, and the `datasets` cache in tmp_path (home stays untouched)."""
    for var in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.setenv(var, "1")
    for name in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
        if hasattr(datasets.config, name):
            monkeypatch.setattr(datasets.config, name, True)
    return tmp_path / "hf_cache"


def _torchcodec_works() -> bool:
    try:
        from torchcodec.decoders import AudioDecoder  # noqa: F401
    except Exception:  # missing, or its CUDA libraries are: datasets cannot decode audio here
        return False
    return True


def test_load_dataset_reads_items_and_audio(results, offline):
    ds = datasets.load_dataset(str(results / "export" / "hf"), split="test", cache_dir=str(offline))
    assert isinstance(ds.features["audio"], datasets.Audio) and ds.features["audio"].sampling_rate == 16000
    assert ds.features["answer_index"] == datasets.Value("int64")
    items = pl.read_parquet(results / "shard" / "test.parquet")
    assert ds.num_rows == items.height

    raw = ds.cast_column("audio", datasets.Audio(decode=False))
    exported = pl.DataFrame(raw.remove_columns("audio").to_list())
    got = items.select("item_id").join(exported, on="item_id", how="left")
    for column in items.columns:  # every field of every item, as test.parquet holds it
        assert got[column].to_list() == items[column].to_list(), column
    glosses = dict(pl.read_parquet(results / "wordnet" / "label_synsets.parquet").select("label", "gloss").iter_rows())
    clips = pl.read_parquet(results / "clips" / "clips.parquet")
    by_clip = {r["clip_id"]: r for r in clips.iter_rows(named=True)}
    assert all(r["gloss"] == glosses[r["label"]] for r in exported.iter_rows(named=True))
    assert all(r[k] == by_clip[r["clip_id"]][k] for r in exported.iter_rows(named=True)
               for k in ("licence", "source", "recording_id", "onset", "offset"))

    pcm = clip_audio(results)
    for row in raw:
        audio, expected = row["audio"], pcm[row["clip_id"]]
        assert audio["path"] == f"{row['clip_id']}.wav"
        data, sr = sf.read(io.BytesIO(audio["bytes"]), dtype="float32")
        assert sr == 16000 and data.shape == expected.shape
        assert np.abs(data - expected / 32768.0).max() <= 1 / 32768  # within int16 quantisation
    if _torchcodec_works():  # decoded by `datasets` itself
        decoded = ds[0]["audio"].get_all_samples()
        expected = pcm[by_clip[ds[0]["clip_id"]]["row"]] / 32768.0
        assert np.abs(decoded.data.numpy()[0] - expected).max() <= 1 / 32768


def test_parquet_alone_is_typed_and_card_is_valid(results, offline):
    out = results / "export" / "hf"
    ds = datasets.load_dataset("parquet", data_files={"test": str(out / SPLIT_FILE)}, split="test",
                               cache_dir=str(offline))
    assert isinstance(ds.features["audio"], datasets.Audio)
    assert ds.features["options"].feature == datasets.Value("string")
    text = (out / "README.md").read_text()
    assert text.startswith("---\n")
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["configs"][0]["data_files"] == [{"split": "test", "path": SPLIT_FILE}]
    assert meta["dataset_info"]["splits"][0]["num_examples"] == ds.num_rows
    assert {"name": "audio", "dtype": {"audio": {"sampling_rate": 16000}}} in meta["dataset_info"]["features"]
    assert meta["license"] == "other"
    card = (results / "shard" / "card.md").read_text()
    assert card.strip() in body and "## Licences" in body and "`licence` column" in body


def test_same_bytes_in_any_folder(results, tmp_path):
    out = results / "export" / "hf"
    copy = shutil.copytree(results, tmp_path / "another_checkout_folder" / "results",
                           ignore=shutil.ignore_patterns("export"))
    other = export_tiny(copy, copy / "export" / "hf")
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(other) for p in other.rglob("*") if p.is_file())
    assert sorted(map(str, files)) == ["README.md", SPLIT_FILE]
    assert all((out / f).read_bytes() == (other / f).read_bytes() for f in files)
    for f in files:
        data = (out / f).read_bytes()
        assert str(results.parent).encode() not in data and str(tmp_path).encode() not in data
