"""The Slurm profile end to end: a real single-node Slurm (envs/slurm_local.sh) runs the clips rule
through the snakemake slurm executor plugin, with a tiny synthetic corpus."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shard.corpora.synth import CLASSES

ROOT = Path(__file__).resolve().parents[1]
SLURM_LOCAL = ROOT / "envs" / "slurm_local.sh"
TARGET = "results/clips/clips.parquet"

pytestmark = pytest.mark.skipif(shutil.which("sbatch") is None,
                                reason="sbatch not on PATH (bash envs/slurm_local.sh installs a local Slurm)")


@pytest.fixture(scope="module")
def slurm():
    """A running local Slurm; stopped afterwards only if this test started it."""
    try:
        start = subprocess.run(["bash", str(SLURM_LOCAL)], capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.skip("local Slurm did not start within 180 s")
    if start.returncode != 0:
        pytest.skip(f"local Slurm cannot be started here: {(start.stderr or start.stdout).strip()[-500:]}")
    yield
    if "already up" not in start.stdout:
        subprocess.run(["bash", str(SLURM_LOCAL), "stop"], capture_output=True, timeout=60)


def tiny_config(workdir: Path) -> Path:
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    classes = [c.label for c in CLASSES.values() if c.default][:3]
    cfg["corpus"]["synth"].update(scenes_per_class=1, events_per_scene=2, scene_seconds=4.0, classes=classes)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def job_ids(snakemake_log: str) -> list[str]:
    return re.findall(r"submitted with SLURM jobid (\d+)", snakemake_log)


def test_clips_rule_runs_as_a_slurm_job(slurm, tmp_path):
    config = tiny_config(tmp_path)
    # jobs run on this machine and re-invoke snakemake inside sbatch: the venv comes first on PATH
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
           "--configfile", str(config), "--profile", str(ROOT / "profiles" / "slurm"),
           "--slurm-init-seconds-before-status-checks", "2", "--slurm-keep-successful-logs", TARGET]
    try:
        run = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired as err:
        log = f"{err.stdout or ''}{err.stderr or ''}"
        subprocess.run(["scancel", *job_ids(log)], capture_output=True)  # a killed snakemake cancels nothing
        raise AssertionError(f"snakemake --profile profiles/slurm did not finish in 300 s:\n{log[-3000:]}")
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    assert (tmp_path / TARGET).stat().st_size > 0

    # the job went through sbatch: snakemake names its Slurm job id, Slurm knows it finished, and
    # the job's own log holds the inner snakemake's run of the rule
    ids = job_ids(log)
    assert len(ids) == 1, log[-3000:]
    state = subprocess.run(["squeue", "-h", "-j", ids[0], "--states=all", "-o", "%T"],
                           capture_output=True, text=True, timeout=10).stdout.strip()
    assert state == "COMPLETED"
    job_log = tmp_path / ".snakemake" / "slurm_logs" / "rule_clips" / f"{ids[0]}.log"
    assert "rule clips" in job_log.read_text()
