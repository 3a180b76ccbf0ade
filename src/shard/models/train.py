"""The training loop, shared by mini_ltu pretraining (shard.models.pretrain) and LoRA fine-tuning (shard.models.finetune).

nanoGPT-style, top to bottom in `train_loop`: a seeded permutation of the examples per epoch,
micro-batches with gradient accumulation, AdamW, linear warmup then cosine decay, gradient clipping,
bf16 autocast on GPU (fp32 on CPU), a tqdm bar on stderr (the rule's log), and optional checkpoints
that make a killed run resume to a bit-identical result.

DDP: when the rule launches the stage under torchrun (WORLD_SIZE > 1), `process_group` joins one
process group (nccl on cuda:LOCAL_RANK, gloo on CPU), the loop wraps `llm.model` in
DistributedDataParallel so gradients are all-reduced, every rank takes its share (`idx[rank::world]`)
of each micro-batch of the same seeded permutation, and only rank 0 checkpoints and writes.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import polars as pl
import torch
from tqdm.auto import tqdm

from shard.common import atomic_path, rng
from shard.models.interface import AudioLLM
from shard.models.processor import AudioProcessor

log = logging.getLogger(__name__)

LOG_FIELDS = ["stage", "step", "loss", "lr", "tokens"]


# ---------------------------------------------------------------- data
class Examples:
    """Instruction examples (text with <audio> placeholders, their clips, answer) in one prompt format;
    `weights` (one per example, None: all 1) weigh each example's tokens in the loss (AudioLLM.loss)."""

    def __init__(self, texts: list[str], clip_ids: list[list[str]], answers: list[str], fmt: str,
                 features: Callable[[Sequence[str]], list[np.ndarray]], names: list[str] | None = None,
                 weights: np.ndarray | None = None):
        self.texts, self.clip_ids, self.answers, self.fmt = texts, clip_ids, answers, fmt
        self.features, self.names = features, names
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.texts)

    def lengths(self, processor: AudioProcessor) -> np.ndarray:
        """Tokens per example (prompt with its audio expanded, answer): what length bucketing sorts by."""
        return np.array([len(processor.encode_prompt(t, len(c), self.fmt)) + len(processor.encode_answer(a))
                         for t, c, a in zip(self.texts, self.clip_ids, self.answers)])

    def batch(self, processor: AudioProcessor, idx: Sequence[int]) -> dict:
        return processor([self.texts[i] for i in idx], [self.features(self.clip_ids[i]) for i in idx], self.fmt,
                         [self.answers[i] for i in idx],
                         names=None if self.names is None else [self.names[i] for i in idx])


# ---------------------------------------------------------------- the loop
def rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


@contextlib.contextmanager
def process_group(device: torch.device):
    """Under torchrun (WORLD_SIZE > 1): join the job's process group for the duration of a stage."""
    dist = torch.distributed
    if int(os.environ.get("WORLD_SIZE", 1)) == 1 or dist.is_initialized():
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield
        dist.barrier()  # rank 0 may still be writing the outputs
    finally:
        dist.destroy_process_group()


def _weights_sha1(named: dict[str, torch.nn.Parameter]) -> str:
    h = hashlib.sha1()
    for name, p in named.items():
        h.update(name.encode())
        h.update(p.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()


def _rng_states() -> dict:
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def checkpoint_saved(step: int) -> None:
    """Called right after the checkpoint of `step` is written (rank 0). Does nothing: tests replace it to stop a
    run there (tests/interrupt.py)."""


def _latest_checkpoint(ckpt_dir: Path) -> Path | None:
    done = sorted(ckpt_dir.glob("step_*/state.pt")) if ckpt_dir.is_dir() else []
    return done[-1].parent if done else None


BUCKET_WINDOW = 64  # micro-batches whose examples are sorted by length together (length bucketing)


def epoch_order(n: int, generator: np.random.Generator, phases: np.ndarray | None = None,
                lengths: np.ndarray | None = None, batch_size: int = 1) -> np.ndarray:
    """A seeded permutation of range(n); with `phases`, sorted by phase (stable), so each phase keeps its own
    shuffled order and comes after the lower ones. With `lengths` (tokens per example), length bucketing: each
    window of BUCKET_WINDOW micro-batches of the permutation is sorted by (phase, length), so a micro-batch
    (`batch_size` consecutive examples) pads little, and without phases the window's micro-batches are then
    shuffled. Micro-batches stay `batch_size` consecutive examples (the last may be short), so a step's data is
    still a function of the step number alone."""
    order = generator.permutation(n)
    phase = np.zeros(n, dtype=np.int64) if phases is None else np.asarray(phases)
    order = order[np.argsort(phase[order], kind="stable")]
    if lengths is None:
        return order
    window = BUCKET_WINDOW * batch_size
    out = []
    for start in range(0, n, window):
        chunk = order[start:start + window]
        chunk = chunk[np.lexsort((np.asarray(lengths)[chunk], phase[chunk]))]
        batches = [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
        if phases is None:  # a curriculum keeps its phases in order
            batches = [batches[i] for i in generator.permutation(len(batches))]
        out += batches
    return np.concatenate(out)


def train_loop(llm: AudioLLM, data: Examples, params: list[torch.nn.Parameter], *, epochs: int,
               max_steps: int | None, batch_size: int, grad_accum: int, lr: float, warmup_steps: int,
               grad_clip: float | None, seed: int, stage: str, ckpt_dir: str | Path | None = None,
               checkpoint_every: int | None = None, fingerprint: str = "",
               phases: np.ndarray | None = None, lengths: np.ndarray | None = None) -> list[dict]:
    """Train `params` of `llm.model` on `data`; return one log row per optimizer step.

    One step = `grad_accum` micro-batches of `batch_size` examples. The order of each epoch is a
    permutation seeded by (seed, stage, epoch), so a step's data is a function of the step number alone:
    that, the checkpointed optimizer / scheduler / RNG states and trainable weights make a resumed run
    bit-identical to an uninterrupted one. `phases` (one int per example) makes a curriculum: each epoch
    visits phase 0's examples first, then phase 1's, ..., each phase in its own seeded order.
    `lengths` (Examples.lengths) batches examples of like length together (epoch_order).
    """
    from transformers import get_cosine_schedule_with_warmup

    rank, world = rank_world()
    dist = torch.distributed
    n_micro = math.ceil(len(data) / batch_size)
    steps_per_epoch = math.ceil(n_micro / grad_accum)
    total = max_steps or epochs * steps_per_epoch
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    scheduler = get_cosine_schedule_with_warmup(optimizer, min(warmup_steps, total // 2), total)
    named = {n: p for n, p in llm.model.named_parameters() if p.requires_grad}
    start, rows = 0, []

    ckpt_dir = Path(ckpt_dir) if ckpt_dir else None
    last = _latest_checkpoint(ckpt_dir) if ckpt_dir else None
    if last is not None:
        state = torch.load(last / "state.pt", map_location=llm.device, weights_only=False)
        if state["fingerprint"] != fingerprint:
            # resuming would mix old LoRA / optimizer state into a run on other data or another base
            log.warning("stale checkpoint %s (made with another config, data or base model): deleting it and "
                        "starting afresh", last)
            shutil.rmtree(ckpt_dir, ignore_errors=True)
        else:
            with torch.no_grad():
                for n, p in named.items():
                    p.copy_(state["trainable"][n])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            # under DDP every rank's own RNG states (dropout draws differ with each rank's data)
            _set_rng_states(state["rng"][rank] if isinstance(state["rng"], list) else state["rng"])
            start, rows = state["step"], state["log"]
            log.info("resumed %s from %s (step %d of %d)", stage, last, start, total)

    orders: dict[int, np.ndarray] = {}
    llm.model.train()
    unwrapped = llm.model
    if world > 1:
        dist.barrier()  # no rank starts (and rank 0 checkpoints) before every rank has read the checkpoint
        # llm.loss calls llm.model: through the DDP wrapper its backward all-reduces the gradients
        llm.model = torch.nn.parallel.DistributedDataParallel(
            unwrapped, device_ids=[llm.device.index] if llm.device.type == "cuda" else None)
        log.info("DDP: world size %d, backend %s", world, dist.get_backend())
    bar = tqdm(total=total, initial=start, desc=stage, file=sys.stderr,
                mininterval=1.0 if sys.stderr.isatty() else 15.0, disable=rank != 0)
    for step in range(start, total):
        epoch, k = divmod(step, steps_per_epoch)
        if epoch not in orders:
            orders = {epoch: epoch_order(len(data), rng(seed, stage, "epoch", epoch), phases, lengths, batch_size)}
        order = orders[epoch]
        micro = [order[j * batch_size:(j + 1) * batch_size] for j in range(k * grad_accum, min((k + 1) * grad_accum, n_micro))]
        t0, tokens, loss_sum = time.perf_counter(), 0, 0.0
        for j, idx in enumerate(micro):
            share, weight = idx[rank::world], 1.0
            if world > 1:
                # DDP averages the ranks' gradients: weigh each rank by its share of the examples; a rank
                # left without one (a short last micro-batch) still joins the all-reduce with weight 0
                share, weight = (share, world * len(share) / len(idx)) if len(share) else (idx[:1], 0.0)
            batch = data.batch(llm.processor, share)
            # all-reduce the gradients only once per step, on the last micro-batch
            sync = world == 1 or j == len(micro) - 1
            with contextlib.nullcontext() if sync else llm.model.no_sync():
                loss = llm.loss(batch, None if data.weights is None else torch.from_numpy(data.weights[share]))
                loss = loss / len(micro)
                if world > 1:
                    loss = loss * weight
                loss.backward()
            loss_sum += float(loss.detach())
            tokens += int(batch["attention_mask"].sum()) if weight else 0
        if world > 1:  # log the loss and tokens of the whole step, not rank 0's share
            totals = torch.tensor([loss_sum, tokens], dtype=torch.float64, device=llm.device)
            dist.all_reduce(totals)
            loss_sum, tokens = float(totals[0]) / world, int(totals[1])
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        current_lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        rows.append({"stage": stage, "step": step + 1, "loss": round(loss_sum, 6), "lr": current_lr, "tokens": tokens})
        bar.update(1)
        bar.set_postfix(loss=f"{loss_sum:.4f}", lr=f"{current_lr:.2e}",
                        tok_s=f"{tokens / max(time.perf_counter() - t0, 1e-9):.0f}", refresh=False)  # bar.update draws it, every mininterval

        if ckpt_dir and checkpoint_every and (step + 1) % checkpoint_every == 0 and step + 1 < total:
            rng_states = _rng_states()
            if world > 1:
                rng_states = [None] * world
                dist.all_gather_object(rng_states, _rng_states())
            if rank != 0:
                continue
            with atomic_path(ckpt_dir / f"step_{step + 1:08d}") as tmp:
                tmp.mkdir()
                torch.save({"step": step + 1, "fingerprint": fingerprint, "log": rows,
                            "trainable": {n: p.detach().cpu() for n, p in named.items()},
                            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                            "rng": rng_states}, tmp / "state.pt")
            for old in ckpt_dir.glob("step_*"):
                if old.name != f"step_{step + 1:08d}":
                    shutil.rmtree(old, ignore_errors=True)
            checkpoint_saved(step + 1)
    bar.close()
    llm.model = unwrapped
    llm.model.eval()
    if world > 1:  # DDP keeps the replicas equal; say so, and stop if it did not
        digests = [None] * world
        dist.all_gather_object(digests, _weights_sha1(named))
        log.info("DDP: trainable weights sha1 per rank %s", " ".join(digests))
        if len(set(digests)) != 1:
            raise RuntimeError(f"DDP ranks ended {stage} with different weights: {digests}")
    return rows


def write_train_log(rows: list[dict], path: Path) -> None:
    """One row per optimizer step: stage, step, loss, lr, tokens (throughput goes to the rule's log only:
    it depends on the clock, and nothing the workflow writes may)."""
    pl.DataFrame(rows, schema={f: (pl.String if f == "stage" else pl.Float64 if f in ("loss", "lr") else pl.Int64)
                               for f in LOG_FIELDS}).write_csv(path, float_precision=8)


def set_threads(threads: int) -> None:
    torch.set_num_threads(int(threads))


