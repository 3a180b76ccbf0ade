"""SHARD outside the workflow: the test items with their audio, in the Hugging Face `datasets` layout.

    results/export/hf/README.md                              dataset card (YAML front matter + shard/card.md)
    results/export/hf/data/test-00000-of-00001.parquet       one row per test item, its clip as an Audio feature

`datasets.load_dataset("results/export/hf", split="test")` reads it offline: the parquet schema carries
the `datasets` features (metadata key `huggingface`), so `audio` is typed `Audio` (storage: a struct of
the clip's WAV bytes and a relative file name) and decodes to the clip's samples. Written with pyarrow
only (`datasets` is not needed to build it). Byte-deterministic: rows sorted, no timestamps, no paths
but relative file names.

The clip helpers here (`load_test_clips`, `wav_bytes`) are shared with the browser (`shard.reporting.browser`).
"""
from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from shard.common import ShardError, atomic_path

log = logging.getLogger("shard")

SPLIT_FILE = "data/test-00000-of-00001.parquet"
ROW_GROUP_ROWS = 100  # what `datasets` uses for audio: small row groups for streaming and the viewer
# (column, dtype) of the item table, as docs/formats.md lists them; `options` is a list of strings
ITEM_COLUMNS = [("item_id", "string"), ("clip_id", "string"), ("label", "string"), ("synset", "string"),
                ("relation", "string"), ("format", "string"), ("template_id", "string"), ("question", "string"),
                ("options", "list"), ("answer", "string"), ("answer_index", "int64"), ("candidate", "string"),
                ("source_kind", "string")]
# what each row adds: the label's WordNet gloss and the clip's provenance and licence
EXTRA_COLUMNS = [("gloss", "string"), ("recording_id", "string"), ("onset", "float64"), ("offset", "float64"),
                 ("source", "string"), ("licence", "string")]
CLIP_COLUMNS = ["clip_id", "row", "recording_id", "onset", "offset", "source", "licence"]


# ---------------------------------------------------------------- shared with the browser
def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """One clip (int16 samples, mono) as the bytes of a 16-bit PCM WAV file (deterministic: no dates)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(samples, dtype=np.int16), sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def load_test_clips(test, clips_parquet, audio, label_synsets) -> tuple[pl.DataFrame, pl.DataFrame, np.ndarray]:
    """The test items (with their label's gloss), the clips they use (clip_id order, with `row` in `audio`:
    clips/test_audio.npy, the test clips in clips.parquet row order) and the memory-mapped audio; a clip or
    label missing upstream is an error naming the file to rebuild."""
    from shard.dataset.clips import test_clip_ids

    items = pl.read_parquet(test)
    clips = pl.read_parquet(clips_parquet)
    test_ids = test_clip_ids(clips_parquet)
    pcm = np.load(audio, mmap_mode="r")
    if pcm.ndim != 2 or pcm.dtype != np.int16 or pcm.shape[0] != len(test_ids):
        raise ShardError(f"{audio}: expected int16 (test clips={len(test_ids)}, samples), found {pcm.dtype} "
                         f"{pcm.shape}; rerun the keep_test_audio rule")
    clips = clips.drop("row").join(pl.DataFrame({"clip_id": test_ids, "row": range(len(test_ids))},
                                                schema={"clip_id": pl.String, "row": pl.Int64}), on="clip_id")
    missing = sorted(set(items["clip_id"]) - set(clips["clip_id"]))
    if missing:
        raise ShardError(f"{test} names clips that {clips_parquet} lacks ({missing[:3]}...); rerun the "
                         "shard_items rule")
    glosses = pl.read_parquet(label_synsets, columns=["label", "synset", "gloss"])
    unknown = sorted(set(items["label"]) - set(glosses["label"]))
    if unknown:
        raise ShardError(f"{label_synsets} has no row for labels {unknown[:5]} of {test}; rerun the wordnet rule")
    items = items.join(glosses.select("label", "gloss"), on="label", how="left")
    used = clips.filter(pl.col("clip_id").is_in(items["clip_id"].unique().implode())).sort("clip_id")
    return items, used, pcm


# ---------------------------------------------------------------- the datasets layout
def _feature(dtype: str, sample_rate: int | None = None) -> dict:
    if dtype == "list":  # `Sequence` of strings: read as a list by every `datasets` version (4+ calls it List)
        return {"feature": {"dtype": "string", "_type": "Value"}, "_type": "Sequence"}
    if dtype == "audio":
        return {"sampling_rate": sample_rate, "_type": "Audio"}
    return {"dtype": dtype, "_type": "Value"}


def _yaml_feature(name: str, dtype: str, sample_rate: int | None = None) -> dict:
    if dtype == "list":
        return {"name": name, "sequence": "string"}
    if dtype == "audio":
        return {"name": name, "dtype": {"audio": {"sampling_rate": sample_rate}}}
    return {"name": name, "dtype": dtype}


def _arrow_type(dtype: str):
    import pyarrow as pa

    return {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "list": pa.list_(pa.string()),
            "audio": pa.struct([("bytes", pa.binary()), ("path", pa.string())])}[dtype]


def _size_category(n: int) -> str:
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < bound:
            return name
    return "n>1M"


def _card(columns: list[tuple[str, str]], sample_rate: int, n: int, sizes: dict, licences: pl.DataFrame,
          body: str) -> str:
    meta = {
        "pretty_name": "SHARD",
        "language": ["en"],
        "license": "other",
        "license_name": "per-clip-licences",  # the `licence` column of every row; see the card's Licences
        "task_categories": ["audio-classification", "question-answering"],
        "tags": ["audio", "wordnet", "reasoning", "synonym", "hypernym"],
        "size_categories": [_size_category(n)],
        "configs": [{"config_name": "default", "data_files": [{"split": "test", "path": SPLIT_FILE}]}],
        "dataset_info": {"features": [_yaml_feature(c, t, sample_rate) for c, t in columns],
                         "splits": [{"name": "test", "num_bytes": sizes["dataset"], "num_examples": n}],
                         "download_size": sizes["download"], "dataset_size": sizes["dataset"]},
    }
    table = "\n".join(f"| {lic} | {k} |" for lic, k in licences.iter_rows())
    note = ("## Licences\n\nThe items and questions are derived from WordNet 3.0 (WordNet licence). Each clip keeps "
            "the licence of the recording it was cut from, given per row in the `licence` column (with `source`, "
            f"`recording_id`, `onset` and `offset` for attribution):\n\n| licence | items |\n|---|---|\n{table}\n")
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{front}---\n\n{body.rstrip()}\n\n{note}"


def export_hf(*, test, clips_parquet, audio, label_synsets, card, out_dir, sample_rate: int) -> None:
    """Rule `export_hf`: the test items, each with its clip as an `Audio` feature, as a `datasets` folder."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    items, clips, pcm = load_test_clips(test, clips_parquet, audio, label_synsets)
    wavs = {cid: wav_bytes(pcm[row], sample_rate) for cid, row in clips.select("clip_id", "row").iter_rows()}
    # a clip's items side by side: its repeated WAV bytes then compress to almost nothing
    rows = (items.join(clips.select(CLIP_COLUMNS).drop("row"), on="clip_id", how="left")
            .sort("clip_id", "item_id"))
    columns = ITEM_COLUMNS + EXTRA_COLUMNS + [("audio", "audio")]
    data = {c: rows[c].to_list() for c, t in columns if t != "audio"}
    data["audio"] = [{"bytes": wavs[c], "path": f"{c}.wav"} for c in rows["clip_id"]]
    features = {c: _feature(t, sample_rate) for c, t in columns}
    schema = pa.schema([(c, _arrow_type(t)) for c, t in columns],
                       metadata={"huggingface": json.dumps({"info": {"features": features}})})
    table = pa.Table.from_pydict(data, schema=schema)
    licences = rows.group_by("licence").len().sort("licence")
    body = Path(card).read_text(encoding="utf-8")
    with atomic_path(out_dir) as tmp:
        (tmp / "data").mkdir(parents=True)
        pq.write_table(table, tmp / SPLIT_FILE, row_group_size=ROW_GROUP_ROWS, compression="zstd",
                       compression_level=3, write_statistics=False)
        # sizes as `datasets` records them: the Arrow table in memory, the parquet file on disk
        sizes = {"dataset": table.nbytes, "download": (tmp / SPLIT_FILE).stat().st_size}
        (tmp / "README.md").write_text(_card(columns, sample_rate, rows.height, sizes, licences, body), encoding="utf-8")
    log.info("export: %d test items, %d clips -> %s", rows.height, clips.height, out_dir)
