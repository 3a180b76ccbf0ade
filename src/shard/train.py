"""Training: mini_ltu pretraining (LTU's curriculum at toy scale) and LoRA fine-tuning, one loop for both.

The loop (`train_loop`) is nanoGPT-style: a seeded permutation of the examples per epoch, micro-batches
with gradient accumulation, AdamW, linear warmup then cosine decay, gradient clipping, bf16 autocast on
GPU (fp32 on CPU), a tqdm bar on stderr (the rule's log), and optional checkpoints that make a killed
run resume to a bit-identical result.

DDP: `finetune.processes: N` > 1 makes the stage re-run itself under torchrun (`python -m
torch.distributed.run --standalone --nproc_per_node N -m shard.train finetune --kwargs FILE`). Each rank
joins one process group (nccl on cuda:LOCAL_RANK, gloo on CPU), the loop wraps `llm.model` in
`torch.nn.parallel.DistributedDataParallel` so gradients are all-reduced, every rank takes its share
(`idx[rank::world]`) of each micro-batch of the same seeded permutation, and only rank 0 writes.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import polars as pl
import torch
from tqdm.auto import tqdm

from . import templates as T
from .features import FeatureStore
from .common import ShardError, atomic_path, config_hash, rng, seed_for, setup_logging, sha1_file, write_json
from .evaluate import pick_options
from .models.interface import AudioLLM, load_model, resolve_device
from .models.processor import AudioProcessor, build_tokenizer

log = logging.getLogger(__name__)

KILL_ENV = "SHARD_TRAIN_KILL_AFTER_STEP"  # tests: SIGKILL the process right after this checkpoint
LOG_FIELDS = ["stage", "step", "loss", "lr", "tokens", "tokens_per_s"]


# ---------------------------------------------------------------- data
def clip_features(store: FeatureStore) -> Callable[[Sequence[str]], list[np.ndarray]]:
    """clip ids -> their stored feature arrays (one per clip; none for a text-only example)."""
    return lambda clip_ids: list(store.get(list(clip_ids))) if len(clip_ids) else []


class Examples:
    """Instruction examples (text with <audio> placeholders, their clips, answer) in one prompt format."""

    def __init__(self, texts: list[str], clip_ids: list[list[str]], answers: list[str], fmt: str,
                 features: Callable[[Sequence[str]], list[np.ndarray]], names: list[str] | None = None):
        self.texts, self.clip_ids, self.answers, self.fmt = texts, clip_ids, answers, fmt
        self.features, self.names = features, names

    def __len__(self) -> int:
        return len(self.texts)

    def batch(self, processor: AudioProcessor, idx: Sequence[int]) -> dict:
        return processor([self.texts[i] for i in idx], [self.features(self.clip_ids[i]) for i in idx], self.fmt,
                         [self.answers[i] for i in idx],
                         names=None if self.names is None else [self.names[i] for i in idx])


# ---------------------------------------------------------------- the loop
def _rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def local_device(model: dict) -> torch.device:
    """This process's device: model.device, and under torchrun on GPUs the rank's own cuda:LOCAL_RANK."""
    device = resolve_device(model.get("device"))
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


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


def _latest_checkpoint(ckpt_dir: Path) -> Path | None:
    done = sorted(ckpt_dir.glob("step_*/state.pt")) if ckpt_dir.is_dir() else []
    return done[-1].parent if done else None


def train_loop(llm: AudioLLM, data: Examples, params: list[torch.nn.Parameter], *, epochs: int,
               max_steps: int | None, batch_size: int, grad_accum: int, lr: float, warmup_steps: int,
               grad_clip: float | None, seed: int, stage: str, ckpt_dir: str | Path | None = None,
               checkpoint_every: int | None = None, fingerprint: str = "") -> list[dict]:
    """Train `params` of `llm.model` on `data`; return one log row per optimizer step.

    One step = `grad_accum` micro-batches of `batch_size` examples. The order of each epoch is a
    permutation seeded by (seed, stage, epoch), so a step's data is a function of the step number alone:
    that, the checkpointed optimizer / scheduler / RNG states and trainable weights make a resumed run
    bit-identical to an uninterrupted one.
    """
    from transformers import get_cosine_schedule_with_warmup

    rank, world = _rank_world()
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
            orders = {epoch: rng(seed, stage, "epoch", epoch).permutation(len(data))}
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
                loss = llm.loss(batch) / len(micro)
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
        rows.append({"stage": stage, "step": step + 1, "loss": round(loss_sum, 6), "lr": current_lr, "tokens": tokens,
                     "tokens_per_s": round(tokens / max(time.perf_counter() - t0, 1e-9), 1)})
        bar.update(1)
        bar.set_postfix(loss=f"{loss_sum:.4f}", lr=f"{current_lr:.2e}")

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
            if os.environ.get(KILL_ENV) == str(step + 1):
                os.kill(os.getpid(), signal.SIGKILL)
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


def _write_log(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=LOG_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def _set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(int(threads))


# ---------------------------------------------------------------- pretraining corpus
def _template_strings() -> list[str]:
    """Every instruction text of shard.templates (both formats), so the tokenizer knows all their words."""
    out = []
    for value in vars(T).values():
        items = value.values() if isinstance(value, dict) else [value]
        for item in items:
            for s in (item if isinstance(item, list) else [item]):
                if isinstance(s, str):
                    out.append(s)
                    if s.count(T.AUDIO) == 1:
                        out.append(T.to_original(s))
    return out


def audio_examples(clips: pl.DataFrame, labels: list[str], seed: int) -> tuple[list, list, list]:
    """Audio labelling (every clip) and label QA (every clip, yes and no alternating over the sorted clips,
    the wrong label drawn at random), both in the original format: LTU's audio tasks."""
    texts, clip_ids, answers = [], [], []
    caption = T.to_original(T.CAPTION_INSTRUCTION)
    for i, (cid, label) in enumerate(clips.sort("clip_id").select("clip_id", "label").iter_rows()):
        texts.append(caption); clip_ids.append([cid]); answers.append(T.caption_answer(label))
        others = [l for l in labels if l != label]
        if i % 2 and others:
            asked, answer = others[int(rng(seed, "pretrain", "label_qa", cid).integers(len(others)))], T.NO
        else:
            asked, answer = label, T.YES
        texts.append(T.to_original(T.LABEL_QA_TEMPLATE.format(label=T.caption_answer(asked))))
        clip_ids.append([cid]); answers.append(answer)
    return texts, clip_ids, answers


def fact_examples(words: pl.DataFrame, seed: int) -> tuple[list, list, list, list]:
    """Text-only WordNet facts about each label: yes/no (FACT_TEMPLATES) and 4-option (FACT_MC_TEMPLATES).
    Returns texts, answers, kinds and each question's options (the ones its text lists, or yes/no)."""
    texts, answers, kinds, choices = [], [], [], []
    words = words.sort("label", "relation", "word")
    for label, relation, word, related in words.select("label", "relation", "word", "related").iter_rows():
        if relation in T.FACT_TEMPLATES:
            texts.append(T.FACT_TEMPLATES[relation].format(a=T.caption_answer(label), b=word))
            answers.append(T.YES if related else T.NO); kinds.append("fact_yesno"); choices.append([T.YES, T.NO])
    all_words = sorted(set(words["word"]))
    for (label, relation), group in words.group_by(["label", "relation"], maintain_order=True):
        if relation not in T.FACT_MC_TEMPLATES:
            continue
        right = group.filter(pl.col("related"))["word"].to_list()
        related_any = set(words.filter((pl.col("label") == label) & pl.col("related"))["word"])
        wrong = [w for w in group.filter(~pl.col("related"))["word"].to_list() if w not in related_any]
        wrong += [w for w in all_words if w not in related_any and w not in wrong]
        for word in right:
            g = rng(seed, "pretrain", "fact_mc", label, relation, word)
            options = [word] + [wrong[i] for i in g.choice(len(wrong), size=min(3, len(wrong)), replace=False)]
            options = [options[i] for i in g.permutation(len(options))]
            texts.append(T.FACT_MC_TEMPLATES[relation].format(a=T.caption_answer(label)) + T.mc_options_suffix(options))
            answers.append(word); kinds.append("fact_mc"); choices.append(options)
    return texts, answers, kinds, choices


# ---------------------------------------------------------------- evaluation of the base model
def labelling_accuracy(llm: AudioLLM, clip_ids: Sequence[str], labels: Sequence[str],
                       features: Callable, options: list[str], batch_size: int = 64) -> dict[str, float]:
    """Caption prompts in the original format: constrained log-likelihood over label names, and greedy exact match."""
    text = T.to_original(T.CAPTION_INSTRUCTION)
    hit_ll = hit_gen = 0
    for s in range(0, len(clip_ids), batch_size):
        ids, gold = clip_ids[s:s + batch_size], [T.caption_answer(l) for l in labels[s:s + batch_size]]
        feats = [features([c]) for c in ids]
        scores = llm.option_logprobs([text] * len(ids), feats, "original", [options] * len(ids))
        hit_ll += sum(options[pick_options(sc, options)[0]] == g for sc, g in zip(scores, gold))
        hit_gen += sum(out == g for out, g in zip(llm.generate([text] * len(ids), feats, "original", 8), gold))
    n = max(len(clip_ids), 1)
    return {"loglik": hit_ll / n, "caption_exact": hit_gen / n, "n": len(clip_ids)}


def facts_accuracy(llm: AudioLLM, texts: list[str], answers: list[str], kinds: list[str], options: list[list[str]],
                   batch_size: int = 128) -> dict[str, float]:
    """Constrained log-likelihood accuracy on the text-only facts, per kind and over all."""
    hits: dict[str, list[bool]] = {}
    for s in range(0, len(texts), batch_size):
        chunk = range(s, min(s + batch_size, len(texts)))
        opts = [options[i] for i in chunk]
        scores = llm.option_logprobs([texts[i] for i in chunk], [[] for _ in chunk], "original", opts)
        for i, o, sc in zip(chunk, opts, scores):
            hits.setdefault(kinds[i], []).append(o[pick_options(sc, o)[0]] == answers[i])
    out = {k: float(np.mean(v)) for k, v in hits.items()}
    out["all"] = float(np.mean([h for v in hits.values() for h in v])) if hits else float("nan")
    return out


# ---------------------------------------------------------------- stage functions (one per rule)
def pretrain_base(*, clips_parquet: str, features: str, words: str, base_dir: str, pretrain: dict, model: dict,
                  seed: int, threads: int | None = None) -> None:
    """Build the tokenizer and mini_ltu, train LTU's curriculum on TRAIN clips only, save to base_dir.

    Stage 1 trains the audio encoder + projector on audio labelling / label QA (language model frozen);
    stage 2 trains everything on those plus text-only WordNet facts. No SHARD question is ever seen.
    """
    from .models.mini_ltu import build_mini_ltu

    _set_threads(threads)
    clips = pl.read_parquet(clips_parquet)
    train, test = clips.filter(pl.col("split") == "train"), clips.filter(pl.col("split") == "test")
    if train.is_empty():
        raise ShardError(f"'{clips_parquet}' has no train-split clips: lower clips.test_fraction or use a larger corpus")
    facts_df = pl.read_parquet(words)
    store = FeatureStore(features, clips_parquet)
    feats = clip_features(store)
    labels = sorted(set(clips["label"]))
    options = sorted({T.caption_answer(l) for l in labels})

    a_texts, a_clips, a_answers = audio_examples(train, labels, seed)
    f_texts, f_answers, f_kinds, f_options = fact_examples(facts_df, seed)
    tokenizer = build_tokenizer([T.LTU_PROMPT] + _template_strings() + a_texts + a_answers + f_texts + f_answers,
                                pretrain["vocab_size"], required=options + facts_df["word"].to_list())

    sample = store.get(train.sort("row")["clip_id"].to_list()).astype(np.float64)
    torch.manual_seed(seed_for(seed, "pretrain", "init"))
    net = build_mini_ltu(pretrain, vocab_size=len(tokenizer), audio_token_id=tokenizer.convert_tokens_to_ids(T.AUDIO),
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, n_mels=store.shape[1], n_frames=store.shape[2],
                         feature_mean=float(sample.mean()), feature_std=float(sample.std() or 1.0))
    llm = AudioLLM(net, AudioProcessor(tokenizer, pretrain["audio_tokens"]), resolve_device(model.get("device")),
                   "mini_ltu")
    schedule = dict(batch_size=pretrain["batch_size"], grad_accum=1, lr=pretrain["lr"], max_steps=None,
                    grad_clip=1.0, seed=seed)
    audio = Examples(a_texts, a_clips, a_answers, "original", feats)
    # facts are few and must be memorised: each is seen `fact_repeats` times per epoch
    reps = pretrain.get("fact_repeats", 2)
    everything = Examples(a_texts + f_texts * reps, a_clips + [[] for _ in f_texts * reps],
                          a_answers + f_answers * reps, "original", feats)

    t0, rows = time.perf_counter(), []
    if pretrain["projector_epochs"]:
        net.language_model.requires_grad_(False)  # LTU stage 1: only what maps audio into the LM
        params = [p for p in net.parameters() if p.requires_grad]
        rows += train_loop(llm, audio, params, epochs=pretrain["projector_epochs"], warmup_steps=10,
                           stage="pretrain_projector", **schedule)
        net.language_model.requires_grad_(True)
    steps = pretrain["epochs"] * math.ceil(len(everything) / pretrain["batch_size"])
    rows += train_loop(llm, everything, list(net.parameters()), epochs=pretrain["epochs"],
                       warmup_steps=max(1, steps // 20), stage="pretrain_all", **schedule)
    train_seconds = time.perf_counter() - t0

    # how well the base model labels audio (train and held-out test clips) and knows its facts
    t_sub = train.sample(n=min(train.height, 300), seed=seed_for(seed, "pretrain", "eval") % 2**32).sort("clip_id")
    metrics = {
        "train_seconds": round(train_seconds, 1),
        "labelling_train": labelling_accuracy(llm, t_sub["clip_id"].to_list(), t_sub["label"].to_list(), feats, options),
        "labelling_test": labelling_accuracy(llm, test["clip_id"].to_list(), test["label"].to_list(), feats, options),
        "facts": facts_accuracy(llm, f_texts, f_answers, f_kinds, f_options),
        "n_train_clips": train.height, "n_test_clips": test.height, "n_labels": len(labels),
        "n_examples": {"audio": len(a_texts), "facts": len(f_texts)}, "vocab_size": len(tokenizer),
        "parameters": sum(p.numel() for p in net.parameters()), "final_loss": rows[-1]["loss"],
    }
    log.info("pretraining took %.0f s; labelling test loglik %.3f caption %.3f; facts %.3f", train_seconds,
             metrics["labelling_test"]["loglik"], metrics["labelling_test"]["caption_exact"], metrics["facts"]["all"])
    with atomic_path(base_dir) as tmp:
        net.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        _write_log(rows, tmp / "train_log.csv")
        write_json(metrics, tmp / "metrics.json")
        write_json({"pretrain": pretrain, "model": model, "seed": seed}, tmp / "train_config.json")


def lora_config(lora: dict):
    """LoRA on the language model only: a regex, so the audio encoder's q_proj / v_proj are never wrapped."""
    from peft import LoraConfig

    names = "|".join(re.escape(t) for t in lora["target_modules"])
    return LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"], bias="none",
                      target_modules=rf".*language_model.*\.({names})$",
                      modules_to_save=["projector"] if lora.get("train_projector") else None)


def _base_checksums(base_dir: str) -> dict[str, str]:
    """sha1 of the base model's weights, config and tokenizer: a retrained base changes it."""
    files = [p for pattern in ("*.safetensors", "*.bin", "config.json", "tokenizer.json")
             for p in Path(base_dir).glob(pattern)]
    return {p.name: sha1_file(p) for p in sorted(files)}


def torchrun(stage: str, processes: int, kwargs: dict, near: str | Path) -> None:
    """Run `stage(**kwargs)` in `processes` processes under torchrun (DDP); they write to our stdout / stderr.

    The keyword arguments travel in a JSON file next to `near` (the stage's output), deleted afterwards.
    """
    spec = Path(str(near).rstrip("/") + ".torchrun.json")
    spec.parent.mkdir(parents=True, exist_ok=True)
    write_json(kwargs, spec)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
           "-m", "shard.train", stage, "--kwargs", str(spec)]
    log.info("%s: %d processes under torchrun: %s", stage, processes, " ".join(cmd))
    sys.stdout.flush(); sys.stderr.flush()
    try:
        subprocess.run(cmd, check=True)
    except subprocess.CalledProcessError as err:
        raise ShardError(f"{stage} under torchrun ({processes} processes) failed with exit code {err.returncode}; "
                         "the ranks' errors are in the log above (set finetune.processes: 1 to run in one process)") from None
    finally:
        spec.unlink(missing_ok=True)


def finetune(*, base_dir: str, prompts: str, clips_parquet: str, features: str, adapter_dir: str, finetune: dict,
             model: dict, seed: int, threads: int | None = None) -> None:
    """LoRA fine-tuning of the base model on one training-prompt file; writes a PEFT adapter directory.

    `finetune.processes` > 1 runs this same function in that many DDP processes under torchrun.
    """
    from peft import get_peft_model

    _set_threads(threads)
    df = pl.read_parquet(prompts)
    if df.is_empty():
        raise ShardError(f"'{prompts}' holds no training prompts; rebuild it with a larger prompts.train_scales")
    fmts = sorted(set(df["format"]))
    if len(fmts) != 1:
        raise ShardError(f"'{prompts}' mixes prompt formats {fmts}; a training file holds one format")
    data = Examples(df["text"].to_list(), df["clip_ids"].to_list(), df["answer"].to_list(), fmts[0],
                    clip_features(FeatureStore(features, clips_parquet)), names=df["prompt_id"].to_list())
    processes = finetune.get("processes", 1)
    if processes > 1 and "WORLD_SIZE" not in os.environ:  # the inputs are checked: now one process per GPU
        torchrun("finetune", processes, dict(
            base_dir=base_dir, prompts=prompts, clips_parquet=clips_parquet, features=features,
            adapter_dir=adapter_dir, finetune=finetune, model=model, seed=seed,
            threads=max(1, threads // processes) if threads else None), near=adapter_dir)
        return

    llm = load_model(model, base_dir, device=str(local_device(model)))
    llm.processor.train_on_prompt = finetune["train_on_prompt"]
    torch.manual_seed(seed_for(seed, "finetune", "lora_init"))
    llm.model = get_peft_model(llm.model, lora_config(finetune["lora"]))
    params = [p for p in llm.model.parameters() if p.requires_grad]
    # a checkpoint is resumed only by a run on the same prompts, base model and settings
    fingerprint = config_hash({"finetune": finetune, "seed": seed, "n": len(data), "prompts": sha1_file(prompts),
                               "base": _base_checksums(base_dir)})
    ckpt_dir = Path(str(adapter_dir).rstrip("/") + ".ckpt")
    rows = train_loop(llm, data, params, epochs=finetune["epochs"], max_steps=finetune["max_steps"],
                      batch_size=finetune["batch_size"], grad_accum=finetune["grad_accum"], lr=finetune["lr"],
                      warmup_steps=finetune["warmup_steps"], grad_clip=finetune["grad_clip"], seed=seed,
                      stage="finetune", ckpt_dir=ckpt_dir, checkpoint_every=finetune["checkpoint_every"],
                      fingerprint=fingerprint)
    if _rank_world()[0] != 0:
        return
    with atomic_path(adapter_dir) as tmp:
        llm.model.save_pretrained(tmp)
        _write_log(rows, tmp / "train_log.csv")
        write_json({"finetune": finetune, "model": model, "seed": seed, "base_dir": str(base_dir),
                    "prompts": str(prompts), "n_prompts": len(data), "steps": len(rows),
                    "trainable_parameters": sum(p.numel() for p in params)}, tmp / "train_config.json")
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    log.info("fine-tuned %d steps on %d prompts -> %s", len(rows), len(data), adapter_dir)


# ---------------------------------------------------------------- torchrun entry point
STAGES = {"finetune": finetune}


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m shard.train STAGE --kwargs FILE`: one stage, its keyword arguments read from a JSON file.

    What `torchrun` runs in each process; rank 0 logs (INFO), the others only warn.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m shard.train", description=main.__doc__)
    parser.add_argument("stage", choices=sorted(STAGES))
    parser.add_argument("--kwargs", required=True, help="JSON file of the stage's keyword arguments")
    args = parser.parse_args(argv)
    kwargs = json.loads(Path(args.kwargs).read_text())
    setup_logging(level=logging.INFO if int(os.environ.get("RANK", 0)) == 0 else logging.WARNING)
    with process_group(local_device(kwargs["model"])):
        try:
            STAGES[args.stage](**kwargs)
        except ShardError as err:
            log.error("%s", err)
            raise SystemExit(f"shard: {err}") from None


if __name__ == "__main__":
    from shard.train import main as _main  # the package's module, not a second copy named __main__

    _main()
