"""Audio front ends (rule `features`): computed once per clip from clips/audio.npy, stored as float16.

    shard.dataset.frontends.FRONTENDS[name]: its function (batch float32 (B, samples), params, sample_rate)
    -> float32 (B, bins, frames); `logmel` and `ltu_fbank` are here, `hf` is the model's own extractor

`build_features` runs one front end over every clip in row order; `featurize` runs it on one
waveform (e.g. the silence of the `blind` control); `FeatureStore` reads stored rows by clip_id.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path

import librosa
import numpy as np
import polars as pl
import torch
from tqdm import tqdm

from shard.common import ShardError, save_npy, write_json
from shard.dataset.frontends import FRONTENDS

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


def build_features(*, clips_parquet, audio, features, meta, silence, frontend: str, params: dict, sample_rate: int,
                   seconds: float) -> None:
    """features/{frontend}.npy float16 (n_clips, bins, frames) in clips.row order, its meta json, and the
    features of one silent clip of the same length (`silence`: what the blind control hears)."""
    fn, params = _frontend(frontend), dict(params)
    clips = pl.read_parquet(clips_parquet, columns=["clip_id", "row"]).sort("row")
    pcm = np.load(audio, mmap_mode="r")
    if pcm.shape[0] != clips.height or not (clips["row"] == np.arange(clips.height)).all():
        raise ShardError(f"'{audio}' holds {pcm.shape[0]} clips but '{clips_parquet}' lists {clips.height}; "
                         "rerun the clips rule so both come from one build")
    first = fn(pcm[:1].astype(np.float32) / 32768, params, sample_rate)
    out = np.empty((pcm.shape[0], *first.shape[1:]), dtype=np.float16)
    for start in tqdm(range(0, pcm.shape[0], BATCH), desc=f"features {frontend}", unit="batch", mininterval=5):
        batch = pcm[start:start + BATCH].astype(np.float32) / 32768
        out[start:start + len(batch)] = fn(batch, params, sample_rate)
    save_npy(out, features)
    quiet = featurize(np.zeros(int(round(sample_rate * seconds)), np.float32), frontend, params, sample_rate)
    save_npy(quiet.astype(np.float16), silence)  # stored like every clip: the same float16 rounding
    write_json({"frontend": frontend, "params": params, "sample_rate": sample_rate, "shape": list(out.shape),
                "dtype": "float16", "clip_ids_sha1": clip_ids_sha1(clips["clip_id"])}, meta)
    log.info("features %s: %s float16 -> %s", frontend, out.shape, features)


class FeatureStore:
    """Stored features by clip_id: `FeatureStore(npy, clips_parquet).get(["clip_a", ...])`."""

    def __init__(self, features_npy, clips_parquet):
        self.array = np.load(features_npy, mmap_mode="r")
        clips = pl.read_parquet(clips_parquet, columns=["clip_id", "row"]).sort("row")
        if clips.height != self.array.shape[0]:
            raise ShardError(f"'{features_npy}' has {self.array.shape[0]} rows but '{clips_parquet}' lists "
                             f"{clips.height} clips; rerun the features rule")
        # same row count is not enough: a rebuilt clip list may reorder or replace clips
        meta = Path(features_npy).with_suffix(".json")
        if meta.is_file():
            stored = json.loads(meta.read_text()).get("clip_ids_sha1")
            if stored is not None and stored != clip_ids_sha1(clips["clip_id"]):
                raise ShardError(f"'{meta}' was built for other clips than '{clips_parquet}' lists (clip_ids_sha1 "
                                 "differs); rebuild results/features/ (rerun the features rule)")
        self.rows = dict(zip(clips["clip_id"], clips["row"]))

    @classmethod
    def from_results(cls, results_dir, frontend: str) -> "FeatureStore":
        results_dir = Path(results_dir)
        return cls(results_dir / "features" / f"{frontend}.npy", results_dir / "clips" / "clips.parquet")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    def get(self, clip_ids: list[str]) -> np.ndarray:
        """float16 (len(clip_ids), bins, frames), a copy (not a view of the memory map)."""
        try:
            rows = [self.rows[c] for c in clip_ids]
        except KeyError as err:
            raise ShardError(f"clip {err.args[0]!r} is not in the feature store") from None
        return np.asarray(self.array[rows])

    def per_clip(self, clip_ids) -> list[np.ndarray]:
        """clip ids -> one float32 feature array per clip (none for a text-only prompt): what the
        processor takes for one prompt, in training and in evaluation alike."""
        return [np.asarray(f, dtype=np.float32) for f in self.get(list(clip_ids))] if len(clip_ids) else []
