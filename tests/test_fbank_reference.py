"""ltu_fbank against LTU's own front end run by real torchaudio (2.9.1).

The reference, tests/data/kaldi_fbank_reference.npz, was made once by
tests/data/make_kaldi_fbank_reference.py in a throwaway venv with torch + torchaudio (its docstring
has the recipe and the keys); this test needs neither.

`ref` is LTU's recipe exactly as LTU runs it (float32): ltu_fbank must equal it within 1e-4 for every
clip, alone and batched. `ref64` (the same torchaudio code on a float64 waveform) shows how far
torchaudio's own float32 rounding moves LTU's input (up to ~3e-3 near the log floor): ltu_fbank
follows torchaudio's float32 operations, so it matches `ref`, not `ref64`, there.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shard.dataset import features as F

REF = Path(__file__).parent / "data" / "kaldi_fbank_reference.npz"
CLIPS = ["tone440", "chirp", "noise", "dc_offset", "quiet", "silence", "long10s5"]
TOL = 1e-4


@pytest.fixture(scope="module")
def ref():
    with np.load(REF) as z:
        return {k: z[k] for k in z.files}


def wave(ref, name):
    return ref[f"pcm_{name}"].astype(np.float32) / 32768  # as the features rule feeds a shard's int16 audio


def ours(ref, name):
    got = F.ltu_fbank(wave(ref, name)[None, :], {}, 16000)
    assert got.shape == (1, 128, 1024) and got.dtype == np.float32
    return got[0].astype(np.float64)


def test_reference_covers_the_cases(ref):
    assert [str(n) for n in ref["names"]] == CLIPS
    assert any(str(v).startswith("torchaudio==") for v in ref["versions"])
    assert ref["pcm_long10s5"].size > 400 + 1023 * 160  # more than 1024 frames: the cut is tested
    floor = (np.log(np.finfo(np.float32).eps) + 5.081) / 4.4849
    np.testing.assert_allclose(ref["ref_silence"][:, :98], floor, atol=1e-6)  # 1 s of zeros: 98 frames at the log floor
    np.testing.assert_allclose(ref["ref_silence"][:, 98:], 5.081 / 4.4849, atol=1e-6)  # then LTU's zero padding


@pytest.mark.parametrize("name", CLIPS)
def test_ltu_fbank_equals_ltu_torchaudio_float32(ref, name):
    diff = np.abs(ours(ref, name) - ref[f"ref_{name}"])
    worst = np.unravel_index(int(diff.argmax()), diff.shape)
    assert diff.max() <= TOL, (f"{name}: max |ltu_fbank - torchaudio(float32)| = {diff.max():.3g} > {TOL} "
                               f"at (bin, frame) {worst}; {list(ref['versions'])}")


def test_float32_rounding_is_torchaudios_own(ref):
    """Where LTU's float32 input differs from exact arithmetic, ltu_fbank reproduces the difference."""
    rounding = np.abs(ref["ref_chirp"].astype(np.float64) - ref["ref64_chirp"])
    assert rounding.max() > 1e-3  # the reference does hold a visible rounding effect
    assert np.abs(ours(ref, "chirp") - ref["ref_chirp"]).max() < rounding.max() / 10


def test_batch_of_clips_matches_reference_per_clip(ref):
    """Mean removal is per clip, not per batch: equal-length clips in one call match their references."""
    same = [n for n in CLIPS if ref[f"pcm_{n}"].size == 16000]
    assert len(same) >= 3
    got = F.ltu_fbank(np.stack([wave(ref, n) for n in same]), {}, 16000)
    diff = max(float(np.abs(g.astype(np.float64) - ref[f"ref_{n}"]).max()) for g, n in zip(got, same))
    assert diff <= TOL, f"batched {same}: max |ltu_fbank - torchaudio(float32)| = {diff:.3g} > {TOL}"
