"""The Slurm profile end to end (tests/slurm_run.py): a real single-node Slurm runs the tiny config through the
snakemake slurm executor plugin, one sbatch job per rule. One fine-tuning job is cancelled with `scancel` while
it trains; the profile's retry resubmits it, it resumes from its checkpoint, and every file comes out
byte-identical to a local run of the same config (tests/test_workflow.py::test_two_folders_same_bytes compares
the two clones, the second of which is this run)."""
from __future__ import annotations

import re

import pytest

from tests import slurm_run as slurm

pytestmark = pytest.mark.slow


def test_tiny_config_through_slurm_with_a_cancelled_finetune(slurm_run, tiny_runs):
    if isinstance(slurm_run, str):
        pytest.skip(slurm_run)
    assert slurm_run.returncode == 0, slurm_run.log[-4000:]
    assert slurm_run.cancelled is not None, "the fine-tuning job was never seen running after its checkpoint"
    assert tiny_runs[1] == slurm_run.project  # the byte-for-byte comparison with the local run covers it

    # every job went through sbatch, ft_500 twice: cancelled, then resubmitted by the profile's retry
    ids = re.findall(r"SLURM jobid (\d+)", slurm_run.log)
    assert slurm_run.cancelled in ids and len(ids) > 20
    states = dict(line.split() for line in slurm.squeue("-j", ",".join(ids), "--states=all", "-o", "%i %T").splitlines())
    assert states[slurm_run.cancelled] == "CANCELLED"
    assert all(states.get(i) == "COMPLETED" for i in ids if i != slurm_run.cancelled), states
    finetune_log = (slurm_run.project / "results" / "logs" / "mini_ltu" / "seed0" / "finetune_500.log").read_text()
    assert "resumed finetune" in finetune_log and "(step 20 of 63)" in finetune_log
