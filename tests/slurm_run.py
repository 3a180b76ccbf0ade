"""The tiny config through a real single-node Slurm (envs/slurm_local.sh) and the snakemake slurm executor
plugin, one sbatch job per rule (conftest.second_clone_config: clips in 3 shards, and evaluations in shards when
SHARD_TEST_EVALUATE_SHARDS says so), with one
fine-tuning job cancelled by `scancel` while it trains (the profile's retry resubmits it and it resumes from its
checkpoint). conftest's `tiny_runs` makes this the second of its two
clones wherever Slurm can run, so the cluster path costs no extra run of the tiny config."""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.interrupt import interrupt_env

ROOT = Path(__file__).resolve().parents[1]
SLURM_LOCAL = ROOT / "envs" / "slurm_local.sh"
CHECKPOINT = "results/models/mini_ltu/seed0/ft_500.ckpt/step_00000020"  # the tiny config checkpoints every 20 steps


def why_not() -> str | None:
    """Why the Slurm run cannot happen here, or None."""
    if shutil.which("sbatch") is None:
        return "sbatch not on PATH (bash envs/slurm_local.sh installs a local Slurm)"
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm not installed (pip install -e '.[slurm]')"
    return None


def start() -> tuple[str | None, bool]:
    """Start a local Slurm: (why it cannot run, or None; whether this call started its daemons)."""
    try:
        out = subprocess.run(["bash", str(SLURM_LOCAL)], capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        return "local Slurm did not start within 180 s", False
    if out.returncode != 0:
        return f"local Slurm cannot be started here: {(out.stderr or out.stdout).strip()[-500:]}", False
    return None, "already up" not in out.stdout


def stop() -> None:
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


@dataclass(frozen=True)
class SlurmRun:
    project: Path
    returncode: int
    log: str
    cancelled: str | None  # the Slurm id of the cancelled fine-tuning job
    states: dict[str, str]  # Slurm job id -> its final state, read as the run ends (slurmctld forgets old jobs)


def run(project: Path, log_path: Path) -> SlurmRun:
    """The project's tiny.yaml through the slurm profile; ft_500's first attempt holds after its first checkpoint
    and is cancelled there."""
    # jobs run on this machine and re-invoke snakemake inside sbatch: the venv comes first on PATH
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = interrupt_env("hold", 20, {**os.environ, "HF_HUB_OFFLINE": "1", "PATH": path})
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(project / "Snakefile"), "--directory", str(project),
           "--configfile", str(project / "tiny.yaml"), "--profile", str(project / "profiles" / "slurm"),
           "--slurm-init-seconds-before-status-checks", "2", "--seconds-between-status-checks", "2",
           "--slurm-keep-successful-logs",
           # the profile asks 16 GB for each model job: on this one-node Slurm (one machine's memory) they would
           # run one at a time; the tiny models need little, so two run side by side (tiny.yaml's threads: 1)
           "--set-resources", *(f"{rule}:mem_mb=3000" for rule in ("pretrain_base", "finetune", "evaluate",
                                                                     "evaluate_shard"))]
    cancelled = None
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(cmd, cwd=project, env=env, stdout=log_file, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 900
            while proc.poll() is None and time.monotonic() < deadline:
                if cancelled is None and (project / CHECKPOINT).is_dir() and (job := finetune_job("500")):
                    subprocess.run(["scancel", job], check=True, timeout=30)
                    cancelled = job
                time.sleep(1)
        finally:
            if proc.poll() is None:  # a killed snakemake cancels nothing: clean the queue ourselves
                proc.kill()
                proc.wait()
            ids = re.findall(r"SLURM jobid (\d+)", log_path.read_text())
            if proc.returncode != 0 and ids:
                subprocess.run(["scancel", *ids], capture_output=True, timeout=30)
    log = log_path.read_text()
    return SlurmRun(project, proc.returncode, log, cancelled, final_states(re.findall(r"SLURM jobid (\d+)", log)))


# states a job ends in; snakemake may see a job's end before slurmctld does (a loaded machine left the last job
# COMPLETING when its states were read, and the test failed on it)
FINAL = {"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
         "DEADLINE"}


def final_states(ids: list[str], wait_s: float = 120) -> dict[str, str]:
    """Slurm job id -> state, once every job is in a final state (or after `wait_s`: what squeue says then)."""
    deadline = time.monotonic() + wait_s
    while True:
        states = dict(line.split() for line in squeue("-j", ",".join(ids), "--states=all", "-o", "%i %T").splitlines()) \
            if ids else {}
        if all(states.get(i) in FINAL for i in ids) or time.monotonic() > deadline:
            return states
        time.sleep(2)
