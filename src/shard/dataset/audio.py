"""Decoding one audio file: the single place the workflow reads audio from disk.

`load_audio` is called once per source file by the clips stage (tests count the calls). A file that
cannot be used raises `DecodeError` whose `reason` is one of the reject reasons of
`clips/rejects.parquet`, so the caller records it and moves on.
"""
from __future__ import annotations

import re
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

# Extensions we try to decode; anything else is rejected as `unsupported` without being opened.
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".au"})

# libsndfile notes "data : 32000 (should be 15978)" when a WAV header promises more than is there.
_SHORT_DATA = re.compile(r"^data\s*:\s*\d+\s*\(should be", re.MULTILINE)


class DecodeError(Exception):
    """A file that yields no usable audio; `reason` is a reject reason, `detail` says why."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def _why(err: Exception) -> str:
    """An error's own words, or at least its type (some decoders raise with an empty message)."""
    text = str(err).strip()
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _read(path: Path) -> tuple[np.ndarray, int]:
    """(samples, channels) float32 and the native sample rate; soundfile first, audioread for mp3."""
    try:
        info = sf.info(str(path))
    except sf.LibsndfileError as err:
        if path.suffix.lower() != ".mp3":
            raise DecodeError("corrupt", f"cannot open ({_why(err)}); check that the file is audio of the "
                                         f"type its extension says, or re-encode it (e.g. with sox or ffmpeg)") from None
        # Older libsndfile builds cannot read mp3: librosa falls back to audioread (ffmpeg, gstreamer).
        try:
            y, sr = librosa.load(str(path), sr=None, mono=False)
        except Exception as err2:  # audioread raises several unrelated types
            raise DecodeError("corrupt", f"neither libsndfile ({_why(err)}) nor audioread ({_why(err2)}) can decode "
                                         "this mp3; check the file, or re-encode it as wav/flac") from None
        return np.atleast_2d(y).T.astype(np.float32), int(sr)
    if _SHORT_DATA.search(info.extra_info):
        raise DecodeError("truncated", f"header promises more audio than the file holds ({info.frames} frames readable)")
    try:
        y, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except sf.LibsndfileError as err:
        raise DecodeError("truncated", f"decoder stopped early ({_why(err)}); the file is cut short: "
                                       "re-download or re-encode it") from None
    return y, int(sr)


def load_audio(path: str | Path, sr: int) -> np.ndarray:
    """Decode `path` to mono float32 at `sr` Hz (channels averaged, soxr resampling: deterministic).

    Raises DecodeError(reason) with reason in unsupported | empty | corrupt | truncated | nan.
    """
    path = Path(path)
    if path.suffix.lower() not in AUDIO_EXTENSIONS:
        raise DecodeError("unsupported", f"extension '{path.suffix}' is not one of {sorted(AUDIO_EXTENSIONS)}")
    if path.stat().st_size == 0:
        raise DecodeError("empty", "file has 0 bytes")
    y, native_sr = _read(path)
    if y.size == 0:
        raise DecodeError("empty", "file holds no samples")
    if not np.isfinite(y).all():
        raise DecodeError("nan", f"{int((~np.isfinite(y)).sum())} non-finite samples")
    y = y.mean(axis=1)
    if native_sr != sr:
        y = librosa.resample(y, orig_sr=native_sr, target_sr=sr, res_type="soxr_hq")
    return np.ascontiguousarray(y, dtype=np.float32)
