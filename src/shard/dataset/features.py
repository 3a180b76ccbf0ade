"""Audio front ends (rules `features_shard`, `features`): computed once per clip, shard by shard from
clips/shards/{k}.npy, stored as float16 in features/{set}/{k}.npy beside one meta json per set.

    shard.dataset.frontends.FRONTENDS[name]: its function (batch float32 (B, samples), params, sample_rate)
    -> float32 (B, bins, frames); `logmel` and `ltu_fbank` are here, `hf` is the model's own extractor

`build_features_shard` runs one front end over every row of a shard; `featurize` runs it on one
waveform (e.g. the silence of the `blind` control); `FeatureStore` reads stored rows by clip_id.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from pathlib import Path

import librosa
import numpy as np
import polars as pl
import torch
from tqdm import tqdm

from shard.common import ShardError, save_npy, write_json
from shard.dataset.frontends import FRONTENDS
from shard.dataset.shards import MAX_OPEN, ShardStore, npy_rows

log = logging.getLogger("shard")
SAMPLE_RATE = 16000
BATCH = 256  # clips per front-end call: bounds memory, results do not depend on it


def logmel(batch: np.ndarray, params: dict, sr: int = SAMPLE_RATE) -> np.ndarray:
    """log10 mel power (dB, ref 1.0) per clip. No top_db clipping: it would tie a clip to its batch."""
    p = {"n_mels": 64, "n_fft": 400, "hop_length": 160, **params}
    mel = librosa.feature.melspectrogram(y=batch, sr=sr, n_fft=p["n_fft"], hop_length=p["hop_length"],
                                         n_mels=p["n_mels"], power=2.0)
    return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None).astype(np.float32)


def _kaldi_mel_banks(n_bins: int, n_fft: int, sr: int, low: float, high: float) -> torch.Tensor:
    """Kaldi's triangular filters, linear in mel (not Hz) between edges, in float32 as torchaudio builds
    them; the Nyquist bin gets weight 0. (n_bins, n_fft // 2 + 1)"""
    mel = lambda f: 1127.0 * math.log(1.0 + f / 700.0)  # noqa: E731
    lo, hi = mel(low), mel(high if high > 0 else sr / 2 + high)
    delta = (hi - lo) / (n_bins + 1)
    b = torch.arange(n_bins).unsqueeze(1)
    left, center, right = lo + b * delta, lo + (b + 1.0) * delta, lo + (b + 2.0) * delta
    m = 1127.0 * (1.0 + sr / n_fft * torch.arange(n_fft // 2, dtype=torch.float32) / 700.0).log()
    banks = torch.clamp(torch.minimum((m - left) / (center - left), (right - m) / (right - center)), min=0.0)
    return torch.nn.functional.pad(banks, (0, 1))


def ltu_fbank(batch: np.ndarray, params: dict, sr: int = SAMPLE_RATE) -> np.ndarray:
    """LTU's input: torchaudio.compliance.kaldi.fbank(htk_compat=True, use_energy=False,
    window_type='hanning', num_mel_bins=128, dither=0.0, frame_shift=10) on the mean-removed
    waveform, zero-padded/cut to 1024 frames, normalised (x + 5.081) / 4.4849. Output (B, 128, 1024).

    torchaudio's recipe in the same float32 torch operations, in the same order (25 ms frames,
    snip_edges, per-frame DC removal, pre-emphasis 0.97, symmetric Hann window, 512-point power
    spectrum, mel-linear triangles 20 Hz..Nyquist, log floored at float32 eps), batched over clips.
    torchaudio itself is not a dependency: its wheels pin another torch. Equal to LTU's own front end
    run by torchaudio 2.9.1 within 1e-4 (tests/test_fbank_reference.py).
    """
    p = {"num_mel_bins": 128, "target_length": 1024, "mean": -5.081, "std": 4.4849, **params}
    win, shift, n_fft = int(sr * 0.025), int(sr * 0.010), 512
    x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
    x = x - x.mean(dim=1, keepdim=True)
    n_frames = 1 + (x.shape[1] - win) // shift if x.shape[1] >= win else 0
    out = torch.zeros(len(x), p["target_length"], p["num_mel_bins"])
    if n_frames:
        frames = x.unfold(1, win, shift)  # (B, frames, win)
        frames = frames - frames.mean(dim=2, keepdim=True)
        frames = frames - 0.97 * torch.cat([frames[..., :1], frames[..., :-1]], dim=2)
        frames = frames * torch.hann_window(win, periodic=False)
        power = torch.fft.rfft(torch.nn.functional.pad(frames, (0, n_fft - win))).abs().pow(2.0)
        banks = _kaldi_mel_banks(p["num_mel_bins"], n_fft, sr, 20.0, 0.0)
        fb = torch.clamp(power @ banks.T, min=torch.finfo(torch.float32).eps).log()
        keep = min(n_frames, p["target_length"])
        out[:, :keep] = fb[:, :keep]
    out = (out - p["mean"]) / p["std"]
    return out.transpose(1, 2).numpy()


def _frontend(name: str):
    if name not in FRONTENDS:
        raise ShardError(f"config key 'features.frontends': unknown front end '{name}'; use one of {sorted(FRONTENDS)}")
    return FRONTENDS[name].compute()


def featurize(waveform: np.ndarray, frontend: str, params: dict, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Features of one float32 waveform in [-1, 1]: (bins, frames), as build_features stores them."""
    return _frontend(frontend)(np.asarray(waveform, np.float32)[None, :], params or {}, sr)[0]


def clip_ids_sha1(clip_ids) -> str:
    return hashlib.sha1("\n".join(clip_ids).encode()).hexdigest()


def build_features_shard(*, audio, features, frontend: str, params: dict, sample_rate: int) -> None:
    """Rule `features_shard`: features/{set}/{k}.npy float16 (rows of clips/shards/{k}.npy, bins, frames),
    computed and written BATCH rows at a time (memory does not grow with the shard)."""
    fn, params = _frontend(frontend), dict(params)
    pcm = np.load(audio, mmap_mode="r")
    n_samples = pcm.shape[1]
    first = fn(np.zeros((1, n_samples), np.float32), params, sample_rate)
    shape = (pcm.shape[0], *first.shape[1:])
    with npy_rows(features, shape, np.float16) as out:
        for start in tqdm(range(0, pcm.shape[0], BATCH), desc=f"features {frontend}", unit="batch", mininterval=5):
            out.write(fn(pcm[start:start + BATCH].astype(np.float32) / 32768, params, sample_rate))
    log.info("features %s: %s float16 -> %s", frontend, shape, features)


def gather_features(*, clips_parquet, index, shards, meta, silence, frontend: str, params: dict, sample_rate: int,
                    seconds: float) -> None:
    """Rule `features` (metadata only): the feature set's meta json, what every reader names (FeatureStore),
    once every shard's features exist; and the features of one silent clip of the same length (`silence`:
    what the blind control hears). The json does not depend on the number of shards."""
    params = dict(params)
    clips = pl.read_parquet(clips_parquet, columns=["clip_id", "row"]).sort("row")
    located = pl.read_parquet(index, columns=["clip_id"])
    if located.height != clips.height:
        raise ShardError(f"'{index}' locates {located.height} clips but '{clips_parquet}' lists {clips.height}; "
                         "rerun the clips rule so both come from one build")
    arrays = [np.load(p, mmap_mode="r") for p in shards]
    row_shape = {tuple(a.shape[1:]) for a in arrays if a.shape[0]}
    if len(row_shape) != 1:
        raise ShardError(f"feature shards {list(map(str, shards))} differ in shape {sorted(row_shape)}; "
                         "rerun the features_shard rule")
    quiet = featurize(np.zeros(int(round(sample_rate * seconds)), np.float32), frontend, params, sample_rate)
    save_npy(quiet.astype(np.float16), silence)  # stored like every clip: the same float16 rounding
    shape = [clips.height, *row_shape.pop()]
    write_json({"frontend": frontend, "params": params, "sample_rate": sample_rate, "shape": shape,
                "dtype": "float16", "clip_ids_sha1": clip_ids_sha1(clips["clip_id"]),
                "index": os.path.relpath(index, Path(meta).parent)}, meta)
    log.info("features %s: %s float16 in %d shards -> %s", frontend, shape, len(arrays), meta)


class FeatureStore:
    """Stored features by clip_id: `FeatureStore(features_json, clips_parquet).get(["clip_a", ...])`.

    `features_json` is the feature set's meta (features/{set}.json); its shards (features/{set}/{k}.npy) are
    opened when first read, a few at a time, and only the rows asked for are read (shard.dataset.shards.ShardStore)."""

    def __init__(self, features_json, clips_parquet, max_open: int = MAX_OPEN):
        meta_path = Path(features_json)
        if not meta_path.is_file() or meta_path.suffix != ".json":
            raise ShardError(f"'{features_json}' is not a feature set's meta (features/NAME.json); rerun the "
                             "features rule")
        meta = json.loads(meta_path.read_text())
        clips = pl.read_parquet(clips_parquet, columns=["clip_id", "row"]).sort("row")
        # same row count is not enough: a rebuilt clip list may reorder or replace clips
        if meta["shape"][0] != clips.height or meta["clip_ids_sha1"] != clip_ids_sha1(clips["clip_id"]):
            raise ShardError(f"'{meta_path}' was built for other clips than '{clips_parquet}' lists (clip_ids_sha1 "
                             "differs); rebuild results/features/ (rerun the features rule)")
        self.meta = meta
        shard_dir = meta_path.with_suffix("")
        self.store = ShardStore(meta_path.parent / meta["index"], lambda k: shard_dir / f"{k}.npy", max_open)

    @classmethod
    def from_results(cls, results_dir, frontend: str) -> "FeatureStore":
        results_dir = Path(results_dir)
        return cls(results_dir / "features" / f"{frontend}.json", results_dir / "clips" / "clips.parquet")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.meta["shape"])

    def get(self, clip_ids: list[str]) -> np.ndarray:
        """float16 (len(clip_ids), bins, frames), in the order asked."""
        try:
            return self.store.get(clip_ids)
        except ShardError as err:
            raise ShardError(f"{err} (feature store '{self.meta['frontend']}')") from None

    def per_clip(self, clip_ids) -> list[np.ndarray]:
        """clip ids -> one float32 feature array per clip (none for a text-only prompt): what the
        processor takes for one prompt, in training and in evaluation alike."""
        return [np.asarray(f, dtype=np.float32) for f in self.get(list(clip_ids))] if len(clip_ids) else []
