"""tables/perception.*: does reasoning fail, or perception, or their integration?"""
from __future__ import annotations

from typing import Mapping, Sequence

import polars as pl

from shard.evaluation.conditions import controls
from shard.prompts import templates
from shard.evaluation.stats import bootstrap_ci
from shard.reporting.evaluations import Evaluations, per_model
from shard.reporting.provenance import publish_table
from shard.reporting.render import NA, gap_cell, pct, stats_cell
from shard.reporting.statistics import accuracy


LABEL_GROUPS = ("all", "known", "unknown")  # a row's labels: every one, or those pretraining taught facts of, or not


def item_knowledge(test_items, pretrain_labels) -> pl.DataFrame:
    """item_id -> `known` (whether mini_ltu's pretraining taught facts about the item's label:
    prompts/pretrain_labels.parquet) and `held_out` (whether its wording is the paraphrase pretraining never
    writes a fact in: shard.prompts.templates.held_out_template), from the test items (shard/test.parquet)."""
    df = pl.read_parquet(test_items, columns=["item_id", "label", "template_id"])
    known = pl.read_parquet(pretrain_labels, columns=["label", "known"])
    held_out = {t: templates.is_held_out(t) for t in df["template_id"].unique()}
    return df.join(known, on="label", how="left").select(
        "item_id", pl.col("known").fill_null(False), pl.col("template_id").replace_strict(held_out).alias("held_out"))


def _of_items(df: pl.DataFrame, ids: pl.DataFrame) -> pl.DataFrame:
    return df.join(ids, on="item_id", how="semi") if df.height else df


def perception_stats(predictions: Mapping[str, dict[str, pl.DataFrame]], conditions: Sequence[dict],
                     config: dict, knowledge: pl.DataFrame) -> pl.DataFrame:
    """Rows per condition that hears the clips, one per group of labels (all; with unknown labels among the items,
    also known and unknown: `knowledge`, item_knowledge's): SHARD accuracy on the group's items and on those whose
    clip the same condition labels correctly (LTU's caption protocol), the same model's blind and text-oracle
    accuracy (the oracle also on the wordings pretraining used and on the held-out one), the chance level of the
    group's items, and the integration gap: text oracle minus audio on the correctly perceived items, paired by
    item (CI: clips resampled)."""
    semantic, labelled = predictions["semantic"], predictions["labelling"]
    external = not labelled  # a model with no labelling answers: imported (config external_models)
    blind, oracle = controls(list(conditions), "silence"), controls(list(conditions), "label")
    groups = {"all": knowledge.select("item_id")}
    if not knowledge["known"].all():
        groups |= {"known": knowledge.filter("known").select("item_id"),
                   "unknown": knowledge.filter(~pl.col("known")).select("item_id")}
    seen_wording = knowledge.filter(~pl.col("held_out")).select("item_id")
    held_out = knowledge.filter("held_out").select("item_id")
    rows = []
    for cond in conditions:
        name = cond["name"]
        # a model imported from lmms-eval (config external_models) answers SHARD items only: no labelling
        if cond["audio"] != "clip" or name not in semantic or (name not in labelled and not external):
            continue
        for group, ids in groups.items():
            where = name if group == "all" else f"{name}/{group}"  # the bootstrap's key
            df = _of_items(semantic[name], ids)
            row = {"condition": name, "labels": group, "labelling_acc": None, "clips_perceived": None, "clips": None,
                   "chance": float((1 / df["n_options"]).mean()) if df.height else None}
            seen = df.clear()
            if name in labelled:
                lab = labelled[name]
                if group != "all":  # the clips of the group's items
                    lab = lab.join(df.select("replicate", "clip_id").unique(), on=["replicate", "clip_id"], how="semi")
                # perception is per replicate: a seed's items count where that seed labels their clip right
                perceived = lab.filter(pl.col("correct")).select("replicate", "clip_id")
                seen = df.join(perceived, on=["replicate", "clip_id"], how="semi")
                row.update(labelling_acc=float(lab["correct"].mean()) if lab.height else None,
                           clips_perceived=perceived.height, clips=lab.height)
            for prefix, part in (("all", df), ("perceived", seen)):
                row.update({f"{prefix}_{k}": v for k, v in accuracy(part, "correct", config, f"perception/{where}/{prefix}").items()})
            for prefix, control in (("blind", blind.get(cond["run"])), ("oracle", oracle.get(cond["run"]))):
                control = control if control and control["name"] in semantic else None
                answers = _of_items(semantic[control["name"]], ids) if control else None
                parts = {prefix: answers}
                if prefix == "oracle":
                    parts |= {"oracle_seen": _of_items(answers, seen_wording) if control else None,
                              "oracle_held_out": _of_items(answers, held_out) if control else None}
                row[f"{prefix}_condition"] = control["name"] if control else None
                for key, part in parts.items():
                    stats = (accuracy(part, "correct", config, f"perception/{where}/{key}") if control
                             else {"acc": None, "lo": None, "hi": None, "n": 0})
                    row.update({f"{key}_{k}": v for k, v in stats.items()})
            gap = {"gap": None, "gap_lo": None, "gap_hi": None}
            control = oracle.get(cond["run"])
            if control and control["name"] in semantic and seen.height:
                paired = seen.select("replicate", "item_id", "clip_id", pl.col("correct").alias("audio")).join(
                    semantic[control["name"]].select("replicate", "item_id", pl.col("correct").alias("text")),
                    on=["replicate", "item_id"])
                diff = paired["text"].cast(pl.Float64).to_numpy() - paired["audio"].cast(pl.Float64).to_numpy()
                lo, hi = bootstrap_ci(diff, paired["clip_id"].to_numpy(), config["evaluate"]["bootstrap"], config["seed"],
                                      f"perception/{where}/gap")
                gap = {"gap": float(diff.mean()), "gap_lo": lo, "gap_hi": hi}
            rows.append({**row, **gap})
    return pl.DataFrame(rows, infer_schema_length=None)


def perception_display(numeric: pl.DataFrame) -> tuple[pl.DataFrame, str, list[str]]:
    """The table's cells, title and notes."""
    rows = list(numeric.iter_rows(named=True))
    display = pl.DataFrame({
        "Model": numeric["model"],
        "Condition": numeric["condition"],
        "Labels": numeric["labels"],
        "Clips labelled right": [f"{r['clips_perceived']}/{r['clips']} ({pct(r['labelling_acc'])}%)"
                                 if r["clips"] is not None else NA for r in rows],
        "Chance": [pct(r["chance"]) for r in rows],
        "SHARD, all items": [stats_cell(r, "all") for r in rows],
        "SHARD, clip labelled right": [stats_cell(r, "perceived") for r in rows],
        "Blind": [stats_cell(r, "blind") for r in rows],
        "Text oracle": [stats_cell(r, "oracle") for r in rows],
        "Text oracle, seen wordings": [stats_cell(r, "oracle_seen") for r in rows],
        "Text oracle, held-out wordings": [stats_cell(r, "oracle_held_out") for r in rows],
        "Integration gap": [gap_cell(r["gap"], r["gap_lo"], r["gap_hi"]) for r in rows],
    })
    notes = ["SHARD accuracy in % with 95% bootstrap CI (clips resampled; ± sd over seeds when there are several). "
             "Clip labelled right: the same condition names the clip's label (caption protocol; counts summed over seeds). Blind: the same model with every clip silenced. Text oracle: "
             "the same model with each clip's label written in its place (no audio).",
             "Labels: all items, or those of labels mini_ltu's pretraining taught facts about (known) and of the "
             "seeded share it taught none (unknown, shard.unknown_label_fraction: the text oracle's negative "
             "control, at chance when the controls work, since items group each side apart; a model not pretrained "
             "here knows what it knows of both). "
             "Wordings: the SHARD question paraphrases pretraining wrote facts in (seen) and the one of each question "
             "type it held out. Chance: what guessing scores on the row's items.",
             "Integration gap: text oracle minus audio on the items whose clip is labelled right, paired by item, "
             "in points; > 0: the model reasons better from the label as text than from audio it did perceive."]
    if numeric["clips"].null_count():
        notes.append("Clips labelled right –: a model imported from lmms-eval / lm-eval (config external_models), "
                     "scored on SHARD items only; its text oracle is lm-eval's shard_text_oracle task.")
    return display, "Perception, reasoning and their integration", notes


def perception_table(*, predictions: Mapping[str, Evaluations], conditions: Sequence[dict], config: dict, test_items,
                     pretrain_labels, **files) -> None:
    """tables/perception.*: does reasoning fail, or perception, or their integration, on labels the base model was
    taught facts about or not? (`test_items`: shard/test.parquet; `pretrain_labels`: prompts/pretrain_labels.parquet;
    `files`: publish_table's)"""
    numeric = per_model(perception_stats, predictions, conditions, config=config,
                        knowledge=item_knowledge(test_items, pretrain_labels))
    publish_table(numeric, *perception_display(numeric), predictions=predictions, config=config,
                  data=[test_items, pretrain_labels], **files)
