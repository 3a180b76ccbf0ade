"""LoRA fine-tuning with `finetune.processes: 2`: torchrun, two gloo ranks, DDP-synchronised weights."""
from __future__ import annotations

import hashlib
import logging
import math
import re

import polars as pl
import pytest
import torch
from safetensors.torch import load_file

import shard.train
from shard.train import KILL_ENV
from shard import templates as T
from shard.common import ShardError
from shard.models.mini_ltu import random_mini_ltu

from tests.test_models import N_FRAMES, N_MELS, TINY
from tests.test_train import read_log, run_finetune, write_tiny_data


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_tiny_data(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def base(data, tmp_path_factory):
    """An untrained mini_ltu saved like pretrain_base's output (DDP is about the loop, not the base)."""
    prompts = pl.read_parquet(data["prompts"])
    net, tok = random_mini_ltu([T.LTU_PROMPT] + prompts["text"].to_list(), TINY, required=["yes", "no"],
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


def test_two_processes_train_one_adapter_under_torchrun(data, base, tmp_path, capfd, caplog, monkeypatch):
    from peft import PeftModel

    from shard.models.mini_ltu import MiniLTUForConditionalGeneration

    adapter = tmp_path / "ft_24"
    # a step = micro-batches of 23 (ranks take 12 + 11) and 1 (rank 1 has none and joins with weight 0): an
    # epoch of the 24 prompts; a checkpoint after every step
    with caplog.at_level(logging.INFO, logger="shard"):
        run_finetune(data, base, adapter, **DDP)
    assert "-m torch.distributed.run --standalone --nproc_per_node 2 -m shard.train finetune" in caplog.text
    err = capfd.readouterr().err  # the ranks' own stderr
    assert err.count("DDP: world size 2, backend gloo") == 1  # rank 0 logs, rank 1 only warns

    assert {"adapter_config.json", "adapter_model.safetensors", "train_log.csv", "train_config.json"} <= \
        {p.name for p in adapter.iterdir()}
    assert not (tmp_path / "ft_24.ckpt").exists() and not (tmp_path / "ft_24.torchrun.json").exists()
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
    monkeypatch.setenv(KILL_ENV, "2")
    with pytest.raises(ShardError, match="under torchrun"):
        run_finetune(data, base, resumed, **DDP)
    monkeypatch.delenv(KILL_ENV)
    with caplog.at_level(logging.INFO, logger="shard"):
        run_finetune(data, base, resumed, **DDP)
    assert "resumed finetune" in capfd.readouterr().err
    assert (resumed / "adapter_model.safetensors").read_bytes() == (adapter / "adapter_model.safetensors").read_bytes()
    assert [r["loss"] for r in read_log(resumed / "train_log.csv")] == [r["loss"] for r in rows]


def test_one_process_does_not_launch_torchrun(data, base, tmp_path, monkeypatch, caplog):
    default = tmp_path / "default" / "ft_24"
    run_finetune(data, base, default)

    def refuse(*args, **kwargs):
        raise AssertionError("processes: 1 must train in this process")

    monkeypatch.setattr(shard.train, "torchrun", refuse)
    one = tmp_path / "one" / "ft_24"
    with caplog.at_level(logging.INFO, logger="shard"):
        run_finetune(data, base, one, processes=1)
    assert "fine-tuned 6 steps" in caplog.text and "DDP:" not in caplog.text
    assert (one / "adapter_model.safetensors").read_bytes() == (default / "adapter_model.safetensors").read_bytes()
    assert [r["loss"] for r in read_log(one / "train_log.csv")] == [r["loss"] for r in read_log(default / "train_log.csv")]
