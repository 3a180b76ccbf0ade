"""mini_ltu pretraining (rule `pretrain_base`): LTU's curriculum at toy scale, from prompts/pretrain.parquet.

Stage 1 trains the audio encoder + projector on the audio prompts (labelling, label QA; language model
frozen); stage 2 trains everything on those plus the text-only WordNet facts, each prompt `fact_repeats` times
per epoch: every fact in its fact template and in the SHARD question forms with the label written as text (one
paraphrase of each question type held out; none about the labels of shard.unknown_label_fraction). The
prompts come from the prompts stage (train clips only, never a SHARD question with audio);
how well the result learned them is scored by the evaluation stage (rule `base_metrics`).
"""
from __future__ import annotations

import logging
import math
import time

import numpy as np
import polars as pl
import torch

from shard.prompts import templates
from shard.prompts.synthesis import corpus_captions
from shard.common import atomic_path, seed_for, write_json
from shard.dataset.features import FeatureStore
from shard.models.interface import AudioLLM, resolve_device
from shard.models.processor import AudioProcessor, build_tokenizer
from shard.models.train import Examples, set_threads, train_loop, write_train_log

log = logging.getLogger(__name__)


def pretrain_base(*, prompts, clips_parquet, features, words, base_dir, pretrain: dict, model: dict, seed: int,
                  threads: int, leakage_audit=None) -> None:
    """`leakage_audit`: the rule's proof that no test clip is in `prompts` (shard.prompts.synthesis.leakage_audit),
    an input so that the rule waits for it; not read here."""
    from shard.models.mini_ltu import build_mini_ltu

    set_threads(threads)
    df = pl.read_parquet(prompts)
    audio = df.filter(pl.col("clip_ids").list.len() > 0)
    facts = df.filter(pl.col("clip_ids").list.len() == 0)
    # every option and benchmark word must be a whole token, whatever vocab_size cuts: the rows' own options and
    # the caption prompts' (every primary label, which their rows do not hold)
    facts_table = pl.read_parquet(words)
    captions = corpus_captions(pl.scan_parquet(clips_parquet), "label")
    required = sorted(set(df["options"].explode().drop_nulls()) | set(captions) | set(facts_table["word"]))
    texts = [templates.LTU_PROMPT, *templates.tokenizer_texts(facts_table["relation"].unique()), *df["text"], *df["answer"]]
    tokenizer = build_tokenizer(texts, pretrain["vocab_size"], required=required)

    store = FeatureStore(features, clips_parquet)
    train_ids = pl.read_parquet(clips_parquet).filter(pl.col("split") == "train").sort("row")["clip_id"].to_list()
    sample = store.get(train_ids).astype(np.float64)
    torch.manual_seed(seed_for(seed, "pretrain", "init"))
    net = build_mini_ltu(pretrain, vocab_size=len(tokenizer),
                         audio_token_id=tokenizer.convert_tokens_to_ids(templates.AUDIO),
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, n_mels=store.shape[1], n_frames=store.shape[2],
                         feature_mean=float(sample.mean()), feature_std=float(sample.std() or 1.0))
    llm = AudioLLM(net, AudioProcessor(tokenizer, pretrain["audio_tokens"]), resolve_device(model["device"]), "mini_ltu")

    feats = store.per_clip
    # each fact `fact_repeats` times per epoch (facts are few and must be memorised), each prompt weighed by its
    # `weight` (the facts' answers balanced)
    epoch = pl.concat([audio, *[facts] * pretrain["fact_repeats"]])
    audio_only = Examples(audio["text"].to_list(), audio["clip_ids"].to_list(), audio["answer"].to_list(),
                          "original", feats)
    everything = Examples(epoch["text"].to_list(), epoch["clip_ids"].to_list(), epoch["answer"].to_list(),
                          "original", feats, weights=epoch["weight"].to_numpy())
    # batches of like-length prompts (`lengths`): the facts and the audio prompts differ in length, and a plain
    # shuffle of the default's mix computes 1.47 tokens per real token (bench/length_bucketing.py). The epoch
    # starts with the audio prompts, so audio_only's lengths are the head of everything's.
    lengths = everything.lengths(llm.processor)
    schedule = dict(batch_size=pretrain["batch_size"], grad_accum=1, lr=pretrain["lr"], max_steps=None,
                    grad_clip=1.0, seed=seed)

    t0, rows = time.perf_counter(), []
    if pretrain["projector_epochs"]:
        net.language_model.requires_grad_(False)  # LTU stage 1: only what maps audio into the LM
        rows += train_loop(llm, audio_only, [p for p in net.parameters() if p.requires_grad],
                           epochs=pretrain["projector_epochs"], warmup_steps=10, stage="pretrain_projector",
                           lengths=lengths[:len(audio_only)], **schedule)
        net.language_model.requires_grad_(True)
    steps = pretrain["epochs"] * math.ceil(len(everything) / pretrain["batch_size"])
    rows += train_loop(llm, everything, list(net.parameters()), epochs=pretrain["epochs"],
                       warmup_steps=max(1, steps // 20), stage="pretrain_all", lengths=lengths,
                       **schedule)
    log.info("pretraining took %.0f s (%d steps, %s parameters, vocabulary %d); final loss %.4f",
             time.perf_counter() - t0, len(rows), f"{sum(p.numel() for p in net.parameters()):,}", len(tokenizer),
             rows[-1]["loss"])
    with atomic_path(base_dir) as tmp:
        net.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_train_log(rows, tmp / "train_log.csv")
        write_json({"pretrain": pretrain, "model": model, "seed": seed, "n_prompts": {
            "audio": audio.height, "facts": facts.height}}, tmp / "train_config.json")
