"""The workflow pins torch, numpy and the BLAS libraries to their AVX2 kernels and MKL to its vendor-neutral branch
(shard.kernels.pin_cpu_kernels), so that the same config gives the same bytes on any x86 CPU with AVX2."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from shard.kernels import PORTABLE_CPU_KERNELS, pin_cpu_kernels

X86 = platform.machine().lower() in ("x86_64", "amd64")


def test_pins_fill_what_the_user_left_unset(monkeypatch):
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    env = {"ATEN_CPU_CAPABILITY": "avx512", "HOME": "/home/someone"}
    in_force = pin_cpu_kernels(env)
    assert env["ATEN_CPU_CAPABILITY"] == "avx512"  # the user's choice stands
    assert env["MKL_CBWR"] == "COMPATIBLE" and env["OPENBLAS_CORETYPE"] == "Haswell"
    assert in_force == {**PORTABLE_CPU_KERNELS, "ATEN_CPU_CAPABILITY": "avx512"}
    assert env["HOME"] == "/home/someone"


def test_no_pins_off_x86(monkeypatch):
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    env: dict = {}
    assert pin_cpu_kernels(env) == {} and env == {}


PROBE = """
import json, threadpoolctl, torch
from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
blas = {i["internal_api"]: i.get("architecture") for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}
print(json.dumps({"aten": torch.backends.cpu.get_cpu_capability(), "openblas": blas.get("openblas"),
                  "numpy_dispatch": [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]}))
"""


@pytest.mark.skipif(not X86, reason="the pins are x86 kernel names")
def test_a_job_started_with_the_pins_runs_the_avx2_kernels():
    env = {k: v for k, v in os.environ.items() if k not in PORTABLE_CPU_KERNELS}
    pin_cpu_kernels(env)
    out = json.loads(subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                                    check=True).stdout)
    assert out["aten"] in ("AVX2", "DEFAULT")  # DEFAULT on a CPU without AVX2
    assert out["openblas"] in ("Haswell", None)
    assert not {"X86_V4", "AVX512_ICL", "AVX512_SPR"} & set(out["numpy_dispatch"])
