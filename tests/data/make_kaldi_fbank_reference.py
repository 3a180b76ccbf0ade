"""Make tests/data/kaldi_fbank_reference.npz: LTU's input front end computed by real torchaudio.

Run ONCE, by hand, in a throwaway venv outside the repository (the project venv has no torchaudio,
and this script must not import shard). The venv used (x86_64, Python 3.11.7, CPU only, PyPI only):

    python3 -m venv /tmp/ta
    /tmp/ta/bin/pip install numpy filelock typing-extensions sympy networkx jinja2 fsspec
    /tmp/ta/bin/pip install torch==2.9.1 'torchaudio==2.9.*'
    # (`--no-deps torch==2.9.1 torchaudio` alone is not enough on x86_64: PyPI's torch is a CUDA
    #  build and `import torch` fails without the nvidia-* wheels, even with no GPU)
    cd <repo> && /tmp/ta/bin/python tests/data/make_kaldi_fbank_reference.py

The recipe is LTU's `load_audio` (YuanGongND/ltu, src/ltu/inference_gradio.py), minus file loading
and resampling: mean removal, torchaudio.compliance.kaldi.fbank(htk_compat=True,
sample_frequency=16000, use_energy=False, window_type='hanning', num_mel_bins=128, dither=0.0,
frame_shift=10), zero-pad / cut to 1024 frames, (fbank + 5.081) / 4.4849. Stored transposed,
(128, 1024), as shard.dataset.features.ltu_fbank returns it.

Waveforms are int16 PCM (k / 32768 in [-1, 1) is what the features rule feeds from clips/audio.npy).
Keys: names, versions, and per clip
    pcm_<name>     int16 (samples,)
    ref_<name>     float32 (128, 1024): LTU's recipe as LTU runs it (float32 waveform, float32 torch)
    ref64_<name>   float32 (128, 1024): the same torchaudio code on the float64 waveform (torch
                   computes in float64; only the mel filters are float32 inside torchaudio), stored
                   rounded to float32. |ref - ref64| is torchaudio's own float32 rounding error: up to
                   ~3e-3 in mel bins whose energy is near the log floor (the chirp's far bins).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torchaudio

SR = 16000
OUT = Path(__file__).with_name("kaldi_fbank_reference.npz")


def ltu_fbank_reference(wave: np.ndarray) -> np.ndarray:
    """LTU's load_audio after torchaudio.load; float32 input as torchaudio.load gives (float64: ref64)."""
    waveform = torch.from_numpy(wave)[None, :]  # (1, samples)
    waveform = waveform - waveform.mean()
    fbank = torchaudio.compliance.kaldi.fbank(waveform, htk_compat=True, sample_frequency=SR,
                                              use_energy=False, window_type='hanning',
                                              num_mel_bins=128, dither=0.0, frame_shift=10)
    target_length = 1024
    n_frames = fbank.shape[0]
    p = target_length - n_frames
    if p > 0:
        fbank = torch.nn.ZeroPad2d((0, 0, 0, p))(fbank)
    elif p < 0:
        fbank = fbank[0:target_length, :]
    fbank = (fbank + 5.081) / 4.4849
    return fbank.T.contiguous().numpy().astype(np.float32)  # (128, 1024)


def clips() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20240611)
    t = lambda s: np.arange(int(round(s * SR))) / SR  # noqa: E731
    t1, t03, t105 = t(1.0), t(0.3), t(10.5)
    f0, f1 = 200.0, 6000.0  # linear chirp over 0.3 s
    long = (0.3 * np.sin(2 * np.pi * 1000 * t105) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.3 * t105))
            + 0.05 * rng.standard_normal(t105.size))
    return {
        "tone440": 0.5 * np.sin(2 * np.pi * 440 * t1) + 0.01 * rng.standard_normal(t1.size),
        "chirp": 0.8 * np.sin(2 * np.pi * (f0 * t03 + (f1 - f0) / (2 * 0.3) * t03 ** 2)),
        "noise": np.clip(0.2 * rng.standard_normal(int(1.2 * SR)), -1, 1),
        "dc_offset": 0.4 + 0.1 * np.sin(2 * np.pi * 3000 * t1) + 0.002 * rng.standard_normal(t1.size),
        "quiet": 3e-4 * rng.standard_normal(t1.size),  # a few int16 steps: log floor region
        "silence": np.zeros(t1.size),  # what the `blind` control hears
        "long10s5": long,  # 1048 frames: exercises the cut to 1024
    }


def main() -> None:
    data: dict[str, np.ndarray] = {}
    names = []
    for name, wave in clips().items():
        pcm = np.clip(np.round(wave * 32768), -32768, 32767).astype(np.int16)
        data[f"pcm_{name}"] = pcm
        data[f"ref_{name}"] = ltu_fbank_reference(pcm.astype(np.float32) / 32768)
        data[f"ref64_{name}"] = ltu_fbank_reference(pcm.astype(np.float64) / 32768)
        names.append(name)
    data["names"] = np.array(names)
    data["versions"] = np.array([f"torch=={torch.__version__}", f"torchaudio=={torchaudio.__version__}",
                                 f"numpy=={np.__version__}"])
    np.savez_compressed(OUT, **data)
    print(f"{OUT}: {OUT.stat().st_size / 1e6:.2f} MB, clips {names}, {list(data['versions'])}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
