"""LoRA fine-tuning with `finetune.processes: 2`: the rule's torchrun command, two gloo ranks, DDP-synchronised weights."""
from __future__ import annotations

import hashlib
import math
import re
import subprocess
import sys
from pathlib import Path

import yaml

import polars as pl
import pytest
import torch
from safetensors.torch import load_file

from shard.prompts import templates
from shard.models.mini_ltu import random_mini_ltu

from tests.test_models import N_FRAMES, N_MELS, TINY
from tests.test_train import finetune_process, read_log, write_tiny_data

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_tiny_data(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def base(data, tmp_path_factory):
    """An untrained mini_ltu saved like pretrain_base's output (DDP is about the loop, not the base)."""
    prompts = pl.read_parquet(data["prompts"])
    net, tok = random_mini_ltu([templates.LTU_PROMPT] + prompts["text"].to_list(), TINY, required=["yes", "no"],
                               n_mels=N_MELS, n_frames=N_FRAMES)
    base_dir = tmp_path_factory.mktemp("models") / "base"
    net.save_pretrained(base_dir)
    tok.save_pretrained(base_dir)
    return str(base_dir)


def lora_sha1(model: torch.nn.Module) -> str:
    """What train_loop logs per rank: sha1 over the trainable (here: LoRA) weights' names and values."""
    h = hashlib.sha1()
    for name, p in model.named_parameters():
        if "lora_" in name:
            h.update(name.encode())
            h.update(p.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()


DDP = dict(processes=2, batch_size=23, max_steps=3, checkpoint_every=1)


@pytest.mark.slow
def test_two_processes_train_one_adapter_under_torchrun(data, base, tmp_path):
    from peft import PeftModel

    from shard.models.mini_ltu import MiniLTUForConditionalGeneration

    adapter = tmp_path / "ft_24"
    # a step = micro-batches of 23 (ranks take 12 + 11) and 1 (rank 1 has none and joins with weight 0): an
    # epoch of the 24 prompts; a checkpoint after every step
    run = finetune_process(data, base, adapter, data["prompts"], **DDP)
    assert run.returncode == 0, run.stderr[-3000:]
    err = run.stderr  # both ranks' stderr
    assert err.count("DDP: world size 2, backend gloo") == 1  # rank 0 logs, rank 1 only warns

    assert {"adapter_config.json", "adapter_model.safetensors", "train_log.csv", "train_config.json"} <= \
        {p.name for p in adapter.iterdir()}
    assert not (tmp_path / "ft_24.ckpt").exists()
    rows = read_log(adapter / "train_log.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    assert all(math.isfinite(float(r["loss"])) and float(r["loss"]) > 0 for r in rows)
    # tokens are summed over both ranks' shares: a step sees all 24 prompts, each longer than 5 tokens
    assert all(int(r["tokens"]) > 24 * 5 for r in rows)

    # both ranks ended with the same weights, and they are the saved adapter's
    digests = re.search(r"DDP: trainable weights sha1 per rank ([0-9a-f ]+)", err).group(1).split()
    assert len(digests) == 2 and digests[0] == digests[1]
    tuned = PeftModel.from_pretrained(MiniLTUForConditionalGeneration.from_pretrained(base), adapter)
    assert lora_sha1(tuned) == digests[0]
    assert any(not torch.all(v == 0) for k, v in load_file(adapter / "adapter_model.safetensors").items()
               if "lora_B" in k)  # lora_B starts at zero: training moved it

    # rank 0 killed after step 2: torchrun stops the job; the rerun resumes every rank to the same adapter
    resumed = tmp_path / "resumed" / "ft_24"
    killed = finetune_process(data, base, resumed, data["prompts"], kill_after=2, **DDP)
    assert killed.returncode != 0 and not resumed.exists()
    done = finetune_process(data, base, resumed, data["prompts"], **DDP)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resumed finetune" in done.stderr
    assert (resumed / "adapter_model.safetensors").read_bytes() == (adapter / "adapter_model.safetensors").read_bytes()
    assert [r["loss"] for r in read_log(resumed / "train_log.csv")] == [r["loss"] for r in rows]


@pytest.mark.parametrize("processes", [1, 2])
def test_the_rule_shows_how_the_job_is_launched(tmp_path, processes):
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg["finetune"]["processes"] = processes
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    out = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory",
                          str(tmp_path), "--configfile", str(tmp_path / "c.yaml"), "-n", "-p", "--cores", "2",
                          "results/models/mini_ltu/seed0/ft_400"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    command = next(line for line in out.stdout.splitlines() if "-m shard.models.finetune" in line)
    torchrun = "-m torch.distributed.run --standalone --nproc_per_node 2 -m shard.models.finetune"
    assert (torchrun in command) == (processes == 2)
    assert "--settings" in command and "--adapter-dir results/models/mini_ltu/seed0/ft_400" in command
