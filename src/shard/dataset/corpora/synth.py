"""The embedded default corpus: a procedural sound bank rendered into strongly-labelled scenes.

Each class is a small recipe (a function of a seeded generator) whose label names a WordNet noun
(its intended sense is in the shipped `label_maps/builtin.csv`, with the sfx corpus's labels). Every event
draws its own pitch, duration, envelope, noise level and loudness, yet each class keeps a
signature a tiny model can pick out of a 1-second log-mel spectrogram (pitch range, harmonicity,
rhythm, noise band).

`render_corpus` writes `scenes_per_class` scenes per class (16 kHz int16 wav, `events_per_scene`
events of that class on low background noise) plus `strong_labels.tsv` in the AudioSet-strong
format; `load_segments` then reads them back through `on_disk.read_strong`, the code path of real
strongly-labelled data. Same seed -> byte-identical files. Speech uses espeak-ng when it is on
PATH (deterministic for a given espeak-ng version) and a formant babble otherwise.
"""
from __future__ import annotations

import csv
import io
import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import librosa
import numpy as np
import soundfile as sf
from scipy import signal
from tqdm import tqdm

from shard.common import ShardError, atomic_path, rng
from shard.dataset.corpora import on_disk
from shard.dataset.corpora.kinds import corpus_kind

log = logging.getLogger("shard")
SR = 16000
Gen = np.random.Generator


@dataclass(frozen=True)
class SoundClass:
    label: str
    render: Callable[[Gen], np.ndarray]
    default: bool  # part of the default class list (config corpus.synth.classes: null)


CLASSES: dict[str, SoundClass] = {}


def sound(label: str, default: bool = True):
    def register(fn):
        CLASSES[label] = SoundClass(label, fn, default)
        return fn
    return register


# ---------------------------------------------------------------- signal primitives
def _n(seconds: float) -> int:
    return int(round(seconds * SR))


def _t(n: int) -> np.ndarray:
    return np.arange(n) / SR


def _tone(freq, amps, n: int | None = None) -> np.ndarray:
    """Harmonic tone: sum_k amps[k] sin((k+1) phase), partials above Nyquist dropped per sample."""
    freq = np.full(n, float(freq)) if np.isscalar(freq) else np.asarray(freq, float)
    phase = 2 * np.pi * np.cumsum(freq) / SR
    out = np.zeros_like(phase)
    for k, a in enumerate(amps, start=1):
        out += a * np.sin(k * phase) * (k * freq < 0.45 * SR)
    return out


def _partials(n: int, freqs, amps, taus) -> np.ndarray:
    """Struck (inharmonic) partials, each decaying exponentially."""
    t = _t(n)
    return sum(a * np.sin(2 * np.pi * f * t) * np.exp(-t / tau) for f, a, tau in zip(freqs, amps, taus)
               if f < 0.45 * SR)


def _filt(x: np.ndarray, lo: float | None, hi: float | None, order: int = 2) -> np.ndarray:
    if lo and hi:
        sos = signal.butter(order, [lo, min(hi, 0.45 * SR)], "bandpass", fs=SR, output="sos")
    elif hi:
        sos = signal.butter(order, hi, "lowpass", fs=SR, output="sos")
    else:
        sos = signal.butter(order, lo, "highpass", fs=SR, output="sos")
    return signal.sosfilt(sos, x)


def _env(n: int, attack: float, release: float) -> np.ndarray:
    """Linear attack and release around a flat sustain."""
    e = np.ones(n)
    a, r = min(_n(attack), n // 2), min(_n(release), n // 2)
    if a:
        e[:a] = np.linspace(0, 1, a)
    if r:
        e[n - r:] *= np.linspace(1, 0, r)
    return e


def _decay(n: int, tau: float) -> np.ndarray:
    return np.exp(-_t(n) / tau)


def _place(n: int, times, make: Callable[[], np.ndarray]) -> np.ndarray:
    """Sum of `make()` bursts starting at `times` (seconds), cut to n samples."""
    out = np.zeros(n)
    for start in times:
        i = _n(start)
        if i < n:
            b = make()[: n - i]
            out[i:i + len(b)] += b
    return out


def _voiced(f0: np.ndarray, formants, bandwidth: float = 0.15) -> np.ndarray:
    """A glottal-like source (all harmonics, 1/k) through parallel formant resonators."""
    src = _tone(f0, [1 / k for k in range(1, 40)])
    return sum(g * _filt(src, f * (1 - bandwidth), f * (1 + bandwidth)) for f, g in formants)


VOWELS = [[(730, 1), (1090, .5), (2440, .25)], [(270, 1), (2290, .4), (3010, .25)],
          [(300, 1), (870, .4), (2240, .15)], [(530, 1), (1840, .45), (2480, .25)],
          [(570, 1), (840, .5), (2410, .2)]]


def _syllables(r: Gen, n_syl: int, f0: float, vowels, rate: float, aspirate: float) -> np.ndarray:
    """Voiced syllables with a falling intonation and breathy (consonant-like) onsets."""
    parts = []
    for i in range(n_syl):
        n = _n(r.uniform(0.6, 1.0) / rate)
        pitch = f0 * (1 - 0.15 * i / max(n_syl, 1)) * (1 + 0.08 * np.sin(np.linspace(0, np.pi, n)))
        v = _voiced(pitch, vowels[r.integers(len(vowels))]) * _env(n, 0.02, 0.04)
        h = _filt(r.standard_normal(_n(0.04)), 1500, 6000) * aspirate
        gap = np.zeros(_n(r.uniform(0.01, 0.05)))
        parts += [h, v / (np.abs(v).max() + 1e-9), gap]
    return np.concatenate(parts)


def _karplus(f0: float, n: int, r: Gen, damping: float) -> np.ndarray:
    """Karplus-Strong plucked string as one IIR comb filter (vectorised by lfilter)."""
    period = max(int(SR / f0), 2)
    a = np.zeros(period + 2)
    a[0], a[period], a[period + 1] = 1.0, -0.5 * damping, -0.5 * damping
    excite = np.zeros(n)
    excite[:period] = r.uniform(-1, 1, period)
    return signal.lfilter([1.0], a, excite)


# ---------------------------------------------------------------- the sound bank
@sound("Siren")
def siren(r):
    n = _n(r.uniform(0.8, 1.4))
    f = r.uniform(700, 1000) + r.uniform(250, 400) * np.sin(2 * np.pi * r.uniform(1.0, 2.5) * _t(n) + r.uniform(0, 6.3))
    return _tone(f, [1, .5, .3, .2]) * _env(n, 0.05, 0.1)


@sound("Church bell")
def church_bell(r):
    n, f0 = _n(r.uniform(1.0, 1.6)), r.uniform(180, 420)
    ratios = np.array([0.5, 1, 1.2, 1.5, 2, 2.5, 3, 4.2])
    return _partials(n, f0 * ratios, [.6, 1, .5, .4, .5, .3, .2, .15], r.uniform(0.6, 1.2) / np.sqrt(ratios))


@sound("Drum")
def drum(r):
    hits = r.integers(1, 4)
    gap = r.uniform(0.2, 0.3)
    n, f0 = _n(0.45 + gap * (hits - 1)), r.uniform(70, 140)

    def hit():
        m = _n(0.45)
        f = f0 * (1 + 0.6 * np.exp(-_t(m) / 0.03))
        return _tone(f, [1, .2]) * _decay(m, r.uniform(0.12, 0.25)) + \
            0.5 * _filt(r.standard_normal(m), None, 2000) * _decay(m, 0.02)
    return _place(n, gap * np.arange(hits), hit)


@sound("Whistle")
def whistle(r):
    n, f0 = _n(r.uniform(0.5, 1.2)), r.uniform(2000, 3200)
    f = f0 * (1 + 0.02 * np.sin(2 * np.pi * r.uniform(5, 7) * _t(n)))
    trill = 1 - r.uniform(0, 0.6) * (0.5 + 0.5 * np.sin(2 * np.pi * r.uniform(15, 30) * _t(n)))
    breath = 0.05 * _filt(r.standard_normal(n), f0 * 0.8, f0 * 1.2)
    return (_tone(f, [1, .05]) * trill + breath) * _env(n, 0.03, 0.05)


@sound("Car horn")
def car_horn(r):
    n, f1 = _n(r.uniform(0.4, 1.0)), r.uniform(380, 460)
    odd = [1 / k if k % 2 else 0 for k in range(1, 16)]
    x = _tone(f1, odd, n) + _tone(f1 * r.uniform(1.2, 1.3), odd, n)
    return _filt(x, None, 3000) * _env(n, 0.01, 0.03)


@sound("Engine")
def engine(r):
    n, f = _n(r.uniform(0.8, 1.5)), r.uniform(25, 50)
    freq = f * (1 + 0.03 * np.sin(2 * np.pi * r.uniform(0.5, 2) * _t(n)))
    pulses = _tone(freq, [1 / k for k in range(1, 21)])
    rumble = _filt(r.standard_normal(n), None, 1500) * (1 + np.sin(2 * np.pi * np.cumsum(freq) / SR))
    return _filt(pulses + r.uniform(0.2, 0.5) * rumble, None, 1500) * _env(n, 0.1, 0.1)


@sound("Rain")
def rain(r):
    n = _n(r.uniform(0.8, 1.5))
    drops = np.zeros(n)
    k = r.poisson(r.uniform(60, 150) * n / SR)
    drops[r.integers(0, n, k)] = r.uniform(0.2, 1, k) * r.choice([-1, 1], k)
    drops = _filt(drops, 1500, 6000) + _filt(_filt(drops, 2500, 4500), 2500, 4500)
    hiss = 0.03 * _filt(r.standard_normal(n), 2000, 7000)
    return (drops + hiss) * _env(n, 0.1, 0.1)


@sound("Thunder")
def thunder(r):
    n = _n(r.uniform(1.0, 1.6))
    crack = _filt(r.standard_normal(n), 200, 4000) * _decay(n, 0.05) * r.uniform(0.2, 0.6)
    wobble = 0.5 + np.abs(_filt(r.standard_normal(n), None, 5, order=1)) * 20
    rumble = _filt(np.cumsum(r.standard_normal(n)) * 0.01, 20, 150) * _decay(n, r.uniform(0.5, 1.0)) * wobble
    rumble /= np.abs(rumble).max() + 1e-9
    return (crack + rumble) * _env(n, r.uniform(0.05, 0.2), 0.1)


@sound("Footsteps")
def footsteps(r):
    n, step = _n(r.uniform(0.9, 1.5)), r.uniform(0.35, 0.55)
    cutoff, tau = r.uniform(300, 600), r.uniform(0.02, 0.04)

    def thud():
        m = _n(0.15)
        body = _filt(r.standard_normal(m), 40, cutoff) * _decay(m, tau)
        return body + 0.4 * np.roll(body, _n(0.04))
    return _place(n, np.arange(r.uniform(0.02, 0.1), n / SR, step), thud)


@sound("Knock")
def knock(r):
    k, gap, f = r.integers(2, 5), r.uniform(0.12, 0.2), r.uniform(250, 450)
    n = _n(gap * (k - 1) + 0.15)

    def one():
        m = _n(0.15)
        tau = r.uniform(0.015, 0.03)
        click = 0.3 * _filt(r.standard_normal(m), 1000, 3000) * _decay(m, 0.003)
        return _partials(m, [f, 2.3 * f], [1, .4], [tau, tau / 2]) + click
    return _place(n, gap * np.arange(k), one)


@sound("Clock")
def clock(r):
    n, interval, f = _n(r.uniform(1.0, 1.5)), r.uniform(0.25, 0.5), r.uniform(3000, 4500)
    times = np.arange(r.uniform(0.0, 0.1), n / SR, interval)
    out = np.zeros(n)
    for i, start in enumerate(times):  # tick-tock: every other tick a bit lower
        g = 1.0 if i % 2 == 0 else 0.8
        out += _place(n, [start], lambda: _partials(_n(0.03), [f * g, 1.5 * f * g], [1, .5], [0.005, 0.003])
                      + 0.5 * _filt(r.standard_normal(_n(0.03)), 3000, 6000) * _decay(_n(0.03), 0.002))
    return out


@sound("Speech")
def speech(r):
    if shutil.which("espeak-ng"):
        return _espeak(r)
    return _syllables(r, int(r.integers(3, 6)), r.uniform(100, 220), VOWELS, r.uniform(3.5, 5), 0.3)


WORDS = ("hello", "morning", "station", "window", "remember", "seven", "river", "yellow", "garden",
         "number", "tomorrow", "listen", "paper", "welcome", "music", "thank you", "over there",
         "good night", "come here", "open the door", "see you later", "on the table")


def _espeak(r: Gen) -> np.ndarray:
    voice = f"en-us+{r.choice(['m1', 'm3', 'm7', 'f1', 'f3', 'f4'])}"
    cmd = ["espeak-ng", "--stdout", "-v", voice, "-s", str(int(r.integers(140, 200))),
           "-p", str(int(r.integers(25, 75))), str(r.choice(WORDS))]
    wav = subprocess.run(cmd, capture_output=True, check=True, timeout=30).stdout
    y, sr = sf.read(io.BytesIO(wav), dtype="float64")
    y, _ = librosa.effects.trim(y, top_db=40)
    return librosa.resample(y, orig_sr=sr, target_sr=SR, res_type="soxr_hq")[: _n(1.4)]


@sound("Dog")
def dog(r):
    barks, gap, f0 = r.integers(1, 4), r.uniform(0.25, 0.35), r.uniform(350, 650)
    n = _n(gap * (barks - 1) + 0.3)

    def bark():
        m = _n(r.uniform(0.12, 0.2))
        f = f0 * np.linspace(1.1, 0.8, m)
        x = _tone(f, [1 / k for k in range(1, 21)]) + 0.3 * r.standard_normal(m)
        return _filt(x, 500, 2500) * _env(m, 0.005, 0.08)
    return _place(n, gap * np.arange(barks), bark)


@sound("Bird")
def bird(r):
    k = int(r.integers(3, 9))
    durs, gaps = r.uniform(0.04, 0.09, k), r.uniform(0.02, 0.08, k)
    starts = np.concatenate([[0], np.cumsum(durs + gaps)[:-1]])
    n = _n(max(starts[-1] + durs[-1], 0.4))
    fa, ratio = r.uniform(2500, 4500), r.uniform(0.6, 1.5)
    it = iter(durs)

    def chirp():
        m = _n(next(it))
        return _tone(np.linspace(fa, fa * ratio, m), [1, .2]) * np.hanning(m)
    return _place(n, starts, chirp)


@sound("Cat")
def cat(r):
    n, f0 = _n(r.uniform(0.5, 0.9)), r.uniform(400, 600)
    rise = int(n * 0.4)
    f = np.concatenate([np.linspace(f0, 1.4 * f0, rise), np.linspace(1.4 * f0, 0.9 * f0, n - rise)])
    x = _tone(f, [1 / k ** 0.7 for k in range(1, 13)])
    opening = np.sin(np.linspace(0, np.pi, n)) ** 0.5  # "m-e-ow": the mouth opens, then closes
    return (_filt(x, 500, 3000) * opening + 0.2 * _filt(x, 200, 700)) * _env(n, 0.05, 0.1)


@sound("Cow")
def cow(r):
    n, f0 = _n(r.uniform(0.8, 1.5)), r.uniform(90, 150)
    f = f0 * (1 + 0.15 * np.sin(np.linspace(0, np.pi, n)))
    x = _tone(f, [1 / k for k in range(1, 31)])
    closed, opened = _filt(x, None, 400), _filt(x, 300, 1100)
    mix = np.clip(np.linspace(-0.5, 1.5, n), 0, 1)  # "mmm" -> "ooo"
    return (closed * (1 - mix) + opened * mix * 1.5) * _env(n, r.uniform(0.1, 0.2), 0.15)


@sound("Frog")
def frog(r):
    croaks, gap = r.integers(1, 4), r.uniform(0.25, 0.35)
    carrier, rate = r.uniform(500, 1200), r.uniform(40, 80)
    n = _n(gap * (croaks - 1) + 0.3)

    def croak():
        m = _n(r.uniform(0.15, 0.22))
        pulses = np.abs(np.sin(np.pi * rate * _t(m))) ** 8
        return _tone(carrier, [1, .5, .3], m) * pulses * _env(m, 0.01, 0.03)
    return _place(n, gap * np.arange(croaks), croak)


@sound("Bee")
def bee(r):
    n, f0 = _n(r.uniform(0.6, 1.4)), r.uniform(180, 260)
    f = f0 * (1 + 0.05 * np.sin(2 * np.pi * r.uniform(2, 4) * _t(n)))
    x = _tone(f, [1 / k for k in range(1, 26)])
    return _filt(x, 150, 3000) * (1 + 0.2 * np.sin(2 * np.pi * 7 * _t(n))) * _env(n, 0.1, 0.1)


@sound("Guitar")
def guitar(r):
    notes, gap = r.integers(1, 4), r.uniform(0.2, 0.35)
    n = _n(gap * (notes - 1) + 0.6)
    midi = r.integers(40, 65, notes)  # E2..E4
    it = iter(midi)
    return _place(n, gap * np.arange(notes), lambda: _karplus(librosa.midi_to_hz(next(it)), _n(0.6), r, 0.996))


@sound("Piano")
def piano(r):
    notes, gap = r.integers(1, 3), r.uniform(0.3, 0.45)
    n = _n(gap * (notes - 1) + r.uniform(0.6, 0.9))

    def note():
        m, f0 = _n(0.9), librosa.midi_to_hz(r.integers(55, 81))
        k = np.arange(1, 11)
        freqs = k * f0 * np.sqrt(1 + 0.0004 * k ** 2)
        hammer = 0.2 * _filt(r.standard_normal(m), 1000, 5000) * _decay(m, 0.005)
        return _partials(m, freqs, 1 / k ** 1.2, r.uniform(0.4, 0.8) / np.sqrt(k)) + hammer
    return _place(n, gap * np.arange(notes), note)


@sound("Flute")
def flute(r):
    n, f0 = _n(r.uniform(0.5, 1.2)), r.uniform(520, 1050)
    f = f0 * (1 + 0.01 * np.sin(2 * np.pi * 5 * _t(n)))
    breath = r.uniform(0.1, 0.15) * _filt(r.standard_normal(n), 1000, 5000)
    return (_tone(f, [1, .35, .12, .05]) + breath) * _env(n, r.uniform(0.06, 0.1), 0.08)


@sound("Violin")
def violin(r):
    n, f0 = _n(r.uniform(0.6, 1.3)), r.uniform(200, 700)
    vib = 0.015 * np.clip((_t(n) - 0.15) * 5, 0, 1) * np.sin(2 * np.pi * r.uniform(5.5, 6.5) * _t(n))
    x = _tone(f0 * (1 + vib), [1 / k for k in range(1, 31)])
    body = _filt(x, 250, 350) + _filt(x, 900, 1100) + 0.7 * _filt(x, 2500, 3100) + 0.3 * x
    return (body + 0.02 * r.standard_normal(n)) * _env(n, 0.08, 0.08)


@sound("Helicopter")
def helicopter(r):
    n, rate = _n(r.uniform(0.9, 1.5)), r.uniform(4, 7)
    chops = _place(n, np.arange(0, n / SR, 1 / rate),
                   lambda: _filt(r.standard_normal(_n(0.1)), None, 800) * _decay(_n(0.1), r.uniform(0.04, 0.06)))
    whine = 0.05 * _tone(r.uniform(400, 900), [1, .3], n)
    rumble = 0.2 * _filt(r.standard_normal(n), None, 200)
    return (chops + whine + rumble) * _env(n, 0.1, 0.1)


@sound("Train")
def train(r):
    n, pair = _n(r.uniform(1.0, 1.5)), r.uniform(0.35, 0.6)
    within = r.uniform(0.08, 0.12)
    starts = np.arange(r.uniform(0, 0.1), n / SR, pair)

    def clack():
        m = _n(0.06)
        return _filt(r.standard_normal(m), 1000, 4000) * _decay(m, 0.01) + \
            0.3 * _partials(m, [r.uniform(1800, 2400)], [1], [0.02])
    clacks = _place(n, np.concatenate([starts, starts + within]), clack)
    rumble = _filt(np.cumsum(r.standard_normal(n)) * 0.02, 20, 200)
    return clacks + rumble / (np.abs(rumble).max() + 1e-9) * 0.4


# ---- extra classes (select them with corpus.synth.classes)
@sound("Cricket", default=False)
def cricket(r):
    n, carrier, interval = _n(r.uniform(0.6, 1.2)), r.uniform(4000, 5000), r.uniform(0.25, 0.4)
    chirp_len = r.integers(3, 6) / 30
    pulses = (np.sin(np.pi * 30 * _t(n)) ** 2) * ((_t(n) % interval) < chirp_len)
    return _tone(carrier, [1], n) * pulses


@sound("Trumpet", default=False)
def trumpet(r):
    n, f0 = _n(r.uniform(0.5, 1.1)), r.uniform(230, 520)
    bright = np.clip(_t(n) / 0.08, 0.2, 1)
    x = sum((1 / k ** 0.5) * bright ** (k / 4) * _tone(f0 * k, [1], n) for k in range(1, 21) if f0 * k < 7000)
    return x * _env(n, 0.04, 0.06)


@sound("Gong", default=False)
def gong(r):
    n, f0 = _n(r.uniform(1.2, 1.6)), r.uniform(70, 140)
    ratios = np.sort(r.uniform(1, 8, 15))
    swell = 1 - np.exp(-_t(n) / 0.15)
    return _partials(n, f0 * ratios, r.uniform(0.2, 1, 15), r.uniform(1, 2, 15)) * (0.4 + 0.6 * swell)


@sound("Telephone", default=False)
def telephone(r):
    n, f = _n(r.uniform(0.8, 1.4)), r.uniform(1000, 1400)
    strikes = np.abs(np.sin(np.pi * r.uniform(20, 25) * _t(n))) ** 4
    gate = (_t(n) % 0.6) < 0.4
    return (_tone(f, [1], n) + 0.5 * _tone(2.7 * f, [1], n)) * strikes * gate


@sound("Doorbell", default=False)
def doorbell(r):
    f1, gap = r.uniform(600, 800), r.uniform(0.35, 0.5)
    n = _n(gap + 0.8)
    tau = r.uniform(0.3, 0.5)
    ding = _place(n, [0], lambda: _partials(_n(0.8), [f1, 2.76 * f1], [1, .3], [tau, tau / 3]))
    dong = _place(n, [gap], lambda: _partials(_n(0.8), [0.8 * f1, 2.76 * 0.8 * f1], [1, .3], [tau, tau / 3]))
    return ding + dong


@sound("Alarm clock", default=False)
def alarm_clock(r):
    n, f = _n(r.uniform(0.8, 1.4)), r.uniform(2000, 3000)
    beeps = ((_t(n) % 0.1) < 0.06) & ((_t(n) % 0.5) < 0.4)
    return np.sign(np.sin(2 * np.pi * f * _t(n))) * beeps * 0.5


@sound("Hammer", default=False)
def hammer(r):
    k, gap = r.integers(1, 4), r.uniform(0.3, 0.45)
    n = _n(gap * (k - 1) + 0.3)
    f = r.uniform(2000, 3000)
    return _place(n, gap * np.arange(k), lambda: _partials(_n(0.3), [f, 1.6 * f, 2.3 * f], [1, .6, .4],
                                                            r.uniform(0.03, 0.08, 3))
                  + 0.5 * _filt(r.standard_normal(_n(0.3)), None, 400) * _decay(_n(0.3), 0.02))


@sound("Saw", default=False)
def saw(r):
    n, strokes, teeth = _n(r.uniform(0.8, 1.4)), r.uniform(2, 4), r.uniform(80, 200)
    stroke = np.sin(np.pi * strokes * _t(n)) ** 2
    rasp = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * teeth * _t(n)))
    return _filt(r.standard_normal(n), 2000, 6000) * stroke * rasp


@sound("Stream", default=False)
def stream(r):
    n = _n(r.uniform(1.0, 1.5))
    k = r.poisson(r.uniform(20, 40) * n / SR)
    bubbles = _place(n, np.sort(r.uniform(0, n / SR, k)),
                     lambda: _tone(np.geomspace(400, r.uniform(900, 1400), _n(0.02)), [1]) * np.hanning(_n(0.02)))
    return bubbles + 0.3 * _filt(r.standard_normal(n), 300, 3000)


@sound("Wind", default=False)
def wind(r):
    n = _n(r.uniform(1.0, 1.6))
    gust = 0.5 + 0.5 * np.sin(2 * np.pi * r.uniform(0.3, 1.0) * _t(n) + r.uniform(0, 6.3))
    howl = _filt(r.standard_normal(n), 400, 450, order=2) * 3
    return (_filt(r.standard_normal(n), None, r.uniform(500, 800)) + howl) * gust * _env(n, 0.2, 0.2)


@sound("Applause", default=False)
def applause(r):
    n = _n(r.uniform(1.0, 1.5))
    k = r.poisson(r.uniform(20, 50) * n / SR)
    claps = _place(n, np.sort(r.uniform(0, n / SR, k)),
                   lambda: _filt(r.standard_normal(_n(0.03)), 1000, 5000) * _decay(_n(0.03), r.uniform(0.005, 0.01)))
    return (claps + 0.1 * _filt(r.standard_normal(n), 1000, 5000)) * _env(n, 0.1, 0.2)


@sound("Laughter", default=False)
def laughter(r):
    return _syllables(r, int(r.integers(3, 7)), r.uniform(200, 320), [VOWELS[0]], r.uniform(4, 6), 0.6)


# ---------------------------------------------------------------- corpus rendering
def class_list(classes: list[str] | None) -> list[str]:
    if classes is None:
        return [c.label for c in CLASSES.values() if c.default]
    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise ShardError(f"config key 'corpus.synth.classes': unknown class(es) {unknown}; "
                         f"available: {sorted(CLASSES)}")
    return list(classes)


def _slug(label: str) -> str:
    return label.lower().replace(" ", "_")


def render_event(label: str, r: Gen) -> np.ndarray:
    """One event of `label`, peak-normalised, with its own loudness and noise level applied."""
    x = np.asarray(CLASSES[label].render(r), float)
    x /= np.abs(x).max() + 1e-12
    x += r.standard_normal(len(x)) * 10 ** (-r.uniform(25, 45) / 20)  # per-event noise floor
    return x * 10 ** (-r.uniform(3, 18) / 20)  # per-event loudness (peak dBFS)


def render_scene(label: str, r: Gen, events: int, seconds: float) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """A scene of `events` events of one class, each in its own time slot, on low background noise."""
    n, slot = _n(seconds), seconds / events
    scene = _filt(r.standard_normal(n), None, 2000) * 10 ** (-r.uniform(58, 66) / 20) * np.sqrt(2)
    spans = []
    for i in range(events):
        x = render_event(label, r)[: _n(slot - 0.1)]
        x *= _env(len(x), 0.0, 0.005)  # no click where a long event is cut to its slot
        start = i * slot + r.uniform(0.05, max(slot - len(x) / SR - 0.05, 0.05))
        j = _n(start)
        scene[j:j + len(x)] += x
        spans.append((j / SR, (j + len(x)) / SR))
    return scene, spans


def render_corpus(workdir: Path, seed: int, synth_cfg: dict) -> Path:
    """Write workdir/audio/*.wav and workdir/strong_labels.tsv; return the table's path."""
    scenes, events, seconds = synth_cfg["scenes_per_class"], synth_cfg["events_per_scene"], synth_cfg["scene_seconds"]
    if seconds / events < 0.5:
        raise ShardError(f"config keys 'corpus.synth.scene_seconds' ({seconds}) / 'events_per_scene' ({events}): "
                         "each event needs a slot of at least 0.5 s; lengthen the scenes or use fewer events")
    audio_dir = workdir / "audio"
    if audio_dir.exists():
        shutil.rmtree(audio_dir)  # stale scenes of another config must not be picked up
    audio_dir.mkdir(parents=True)
    scene_count = event_count = 0
    # the table is written as the scenes are rendered: memory holds one scene, not the corpus' rows
    with atomic_path(workdir / "strong_labels.tsv") as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(["segment_id", "start_time_seconds", "end_time_seconds", "label"])
        for label in tqdm(class_list(synth_cfg["classes"]), desc="render synth classes", unit="class",
                          mininterval=5):
            for s in range(scenes):
                rid = f"synth_{_slug(label)}_{s:02d}"
                scene, spans = render_scene(label, rng(seed, "synth", label, s), events, seconds)
                pcm = np.round(np.clip(scene, -1, 1) * 32767).astype(np.int16)
                sf.write(audio_dir / f"{rid}.wav", pcm, SR, subtype="PCM_16")
                writer.writerows((rid, f"{on:.4f}", f"{off:.4f}", label) for on, off in spans)
                scene_count, event_count = scene_count + 1, event_count + len(spans)
    log.info("synth: %d scenes, %d events, %d classes -> %s", scene_count, event_count,
             scene_count // scenes, workdir)
    return workdir / "strong_labels.tsv"


def check_config(corpus_cfg: dict) -> None:
    """Before any job runs: every class of corpus.synth.classes exists."""
    class_list(corpus_cfg["synth"].get("classes"))


def load_segments(corpus_cfg: dict, seed: int, workdir: Path):
    workdir, kind = Path(workdir), corpus_kind(corpus_cfg)
    tsv = render_corpus(workdir, seed, corpus_cfg["synth"])
    resolve = on_disk.label_resolver(corpus_cfg)
    return on_disk.read_strong(workdir.resolve(), tsv, workdir.resolve() / "audio", resolve, kind.name, kind.licence)
