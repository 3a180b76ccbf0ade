"""The same numbers on any x86 CPU.

torch, numpy and the BLAS libraries pick their kernels by CPU model at run time, and an AVX-512 kernel
rounds differently from an AVX2 one. A tiny model trained from scratch amplifies one rounding difference
into another model (the default's labelling accuracy moved 20 points between two CI machines). Pinning
every library to its AVX2 (x86-64-v3) kernels, and MKL to its vendor-neutral branch, gives the same bytes on
any x86 CPU that has AVX2, Intel or AMD.

This module imports nothing heavy: the variables must be set before numpy and torch load (the workflow sets
them in the Snakefile, for every job it starts; the tests in tests/conftest.py).
"""
from __future__ import annotations

import os
import platform

PORTABLE_CPU_KERNELS = {
    "ATEN_CPU_CAPABILITY": "avx2",  # torch's own vectorised kernels: softmax, attention, reductions
    # torch's matmuls: MKL's reproducible SSE2 branch, the one MKL keeps on AMD CPUs too (its AVX2 branch is
    # Intel's only: elsewhere MKL falls back to its automatic choice)
    "MKL_CBWR": "COMPATIBLE",
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # torch's convolutions and GELU (oneDNN)
    "OPENBLAS_CORETYPE": "Haswell",  # numpy's and scipy's matmuls, e.g. librosa's mel filterbank
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # numpy's exp, log, ... above AVX2
    "NUMBA_CPU_NAME": "haswell",  # librosa's compiled helpers
}


def pin_cpu_kernels(environ: dict | None = None) -> dict[str, str]:
    """Set PORTABLE_CPU_KERNELS in `environ` (default os.environ; read by the jobs started after) where the user
    has not set them, on x86 only. Returns what is in force. Set one yourself (e.g. ATEN_CPU_CAPABILITY=avx512)
    to trade that portability for speed."""
    environ = os.environ if environ is None else environ
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return {}
    for key, value in PORTABLE_CPU_KERNELS.items():
        environ.setdefault(key, value)
    return {key: environ[key] for key in PORTABLE_CPU_KERNELS}
