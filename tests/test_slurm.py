"""The Slurm profile end to end: a real single-node Slurm (envs/slurm_local.sh) runs the tiny config through
the snakemake slurm executor plugin, one sbatch job per rule. One fine-tuning job is cancelled with
`scancel` while it trains; the profile's retry resubmits it, it resumes from its checkpoint, and every
table comes out byte-identical to a local run of the same config."""
from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.fixtures import copy_project, results_files, tiny_workflow_config
from tests.interrupt import interrupt_env

ROOT = Path(__file__).resolve().parents[1]
SLURM_LOCAL = ROOT / "envs" / "slurm_local.sh"
CHECKPOINT = "results/models/mini_ltu/seed0/ft_500.ckpt/step_00000020"  # the tiny config checkpoints every 20 steps

def _has_slurm_plugin() -> bool:
    import importlib.util

    return importlib.util.find_spec("snakemake_executor_plugin_slurm") is not None


pytestmark = [
    pytest.mark.skipif(shutil.which("sbatch") is None,
                       reason="sbatch not on PATH (bash envs/slurm_local.sh installs a local Slurm)"),
    pytest.mark.skipif(not _has_slurm_plugin(),
                       reason="snakemake-executor-plugin-slurm not installed (pip install -e '.[slurm]')"),
]


@pytest.fixture(scope="module")
def slurm():
    """A running local Slurm. Daemons this fixture started are stopped by pid afterwards, also when a test
    fails; a Slurm that was already up (CI starts one) is left as it was."""
    try:
        start = subprocess.run(["bash", str(SLURM_LOCAL)], capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.skip("local Slurm did not start within 180 s")
    if start.returncode != 0:
        pytest.skip(f"local Slurm cannot be started here: {(start.stderr or start.stdout).strip()[-500:]}")
    try:
        yield
    finally:
        if "already up" not in start.stdout:
            subprocess.run(["bash", str(SLURM_LOCAL), "stop"], capture_output=True, timeout=60)


def squeue(*args: str) -> str:
    return subprocess.run(["squeue", "-h", *args], capture_output=True, text=True, timeout=10).stdout


def finetune_job(scale: str) -> str | None:
    """The Slurm job id of the running fine-tuning job of one scale (the plugin names the rule in --comment)."""
    for line in squeue("-o", "%i %T %k").splitlines():
        job, state, comment = (line.split(maxsplit=2) + ["", ""])[:3]
        if state == "RUNNING" and comment.startswith("rule_finetune") and scale in comment:
            return job
    return None


def test_tiny_config_through_slurm_with_a_cancelled_finetune(slurm, tiny_runs, tmp_path):
    project = copy_project(tmp_path / "slurm_clone")
    (project / "tiny.yaml").write_text(yaml.safe_dump(tiny_workflow_config()))
    # jobs run on this machine and re-invoke snakemake inside sbatch: the venv comes first on PATH.
    # "hold" makes the first attempt of ft_500 wait after its first checkpoint, so it can be cancelled there.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = interrupt_env("hold", 20, {**os.environ, "HF_HUB_OFFLINE": "1", "PATH": path})
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(project / "Snakefile"), "--directory", str(project),
           "--configfile", str(project / "tiny.yaml"), "--profile", str(project / "profiles" / "slurm"),
           "--slurm-init-seconds-before-status-checks", "2", "--seconds-between-status-checks", "2",
           "--slurm-keep-successful-logs"]
    log_path = tmp_path / "snakemake.log"
    with open(log_path, "w") as log_file:
        run = subprocess.Popen(cmd, cwd=project, env=env, stdout=log_file, stderr=subprocess.STDOUT, text=True)
        try:
            cancelled, deadline = None, time.monotonic() + 900
            while run.poll() is None and time.monotonic() < deadline:
                if cancelled is None and (project / CHECKPOINT).is_dir() and (job := finetune_job("500")):
                    subprocess.run(["scancel", job], check=True, timeout=30)
                    cancelled = job
                time.sleep(1)
            if run.poll() is None:
                run.kill()
        finally:
            if run.poll() is None:  # a killed snakemake cancels nothing: clean the queue ourselves
                run.kill()
            ids = re.findall(r"SLURM jobid (\d+)", log_path.read_text())
            if run.returncode != 0 and ids:
                subprocess.run(["scancel", *ids], capture_output=True, timeout=30)
    log = log_path.read_text()
    assert run.returncode == 0, log[-4000:]
    assert cancelled is not None, "the fine-tuning job was never seen running after its checkpoint"

    # every job went through sbatch, ft_500 twice: cancelled, then resubmitted by the profile's retry
    ids = re.findall(r"SLURM jobid (\d+)", log)
    assert cancelled in ids and len(ids) > 20
    states = dict(line.split() for line in squeue("-j", ",".join(ids), "--states=all", "-o", "%i %T").splitlines())
    assert states[cancelled] == "CANCELLED"
    assert all(states.get(i) == "COMPLETED" for i in ids if i != cancelled), states
    finetune_log = (project / "results" / "logs" / "mini_ltu" / "seed0" / "finetune_500.log").read_text()
    assert "resumed finetune" in finetune_log and "(step 20 of 63)" in finetune_log

    # the same bytes as the local run: tables, figure, adapters, predictions, everything under results/
    local = tiny_runs[0]
    files = results_files(local)
    assert results_files(project) == files
    assert [f for f in files if not filecmp.cmp(local / "results" / f, project / "results" / f, shallow=False)] == []
