"""Result tables (semantic, labelling, scaling) and the trade-off figure, one function per target.

Each table is computed once as numbers (written as CSV) and rendered by one shared formatter into
Markdown and LaTeX (booktabs), with its provenance beside it (`{name}.provenance.json`). Outputs are
byte-deterministic: fixed float formatting, seeded bootstrap, no timestamps.

Every table has a row per (model, condition): config `models` lists the models compared on the same
items, and tables/models sets them side by side. Accuracy comes from the per-item `correct` field of
eval/{model}/seed{k}/{condition}/{task}.jsonl: the summed
log-prob choice in loglik mode (acc_norm stays in the summaries), the strictly parsed answer in
generate mode. Confidence intervals resample clips (shard.stats.bootstrap_ci); the p-value is an
exact McNemar test against the same model's `original`, paired on item_id.
"""
from __future__ import annotations

import json
import math
from itertools import takewhile
from pathlib import Path
from typing import Sequence

import numpy as np
import polars as pl

from .common import atomic_path, config_hash, package_versions, read_jsonl, sha1_file, write_json, write_text
from .evaluate import label_targets
from .markdown import markdown_table
from .conditions import BASELINE, controls, display_name, heard, scaling_curve
from .stats import bootstrap_ci, bootstrap_metric, chance, map_chance, mcnemar, mean_average_precision

from .relations import ordered_relations, relation_title  # a relation's column order and title: its record's

NA = "–"
LABEL_COLUMNS = ("Model", "Condition")  # a row's name; every other column holds numbers
SEED_NOTE = ("With several seeds (config `seeds`): accuracy over every seed's answers ± the sd of the per-seed "
             "accuracies; the CI resamples clips with every seed's answers; McNemar pairs are (seed, item).")


# ---------------------------------------------------------------- cell formatting (fixed precision)
def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def pct(x) -> str:
    return NA if _missing(x) else f"{100 * x:.1f}"


def ci_cell(est, lo, hi, sd=None) -> str:
    """'43.5 [40.1, 47.0]', or with several replicates '43.5 ± 4.3 [40.1, 47.0]' (± the sd over seeds)."""
    if _missing(est):
        return NA
    spread = "" if _missing(sd) else f" ± {100 * sd:.1f}"
    return f"{pct(est)}{spread} [{pct(lo)}, {pct(hi)}]"


def delta_cell(d) -> str:
    return NA if _missing(d) else f"{100 * d:+.1f}"


def p_cell(p) -> str:
    return NA if _missing(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")


# ---------------------------------------------------------------- the one shared formatter
_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
        ">": r"\textgreater{}", "–": "--", "Δ": r"$\Delta$"}


def _tex_cell(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in text)


def render_markdown(display: pl.DataFrame, title: str, notes: Sequence[str]) -> str:
    return "\n".join([f"**{title}**", "", markdown_table(display).rstrip("\n"), "", *notes]) + "\n"


def render_latex(display: pl.DataFrame, title: str, notes: Sequence[str]) -> str:
    ncol = len(display.columns)
    labels = max(1, sum(1 for _ in takewhile(lambda c: c in LABEL_COLUMNS, display.columns)))  # left-aligned
    row = lambda cells: " & ".join(_tex_cell(str(c)) for c in cells) + r" \\"
    out = [f"% {_tex_cell(title)}", r"\begin{tabular}{" + "l" * labels + "r" * (ncol - labels) + "}", r"\toprule",
           row(display.columns), r"\midrule", *[row(r) for r in display.iter_rows()], r"\bottomrule"]
    out += [rf"\multicolumn{{{ncol}}}{{l}}{{\footnotesize {_tex_cell(n)}}} \\" for n in notes]
    out += [r"\end{tabular}"]
    return "\n".join(out) + "\n"


def write_table(numeric: pl.DataFrame, display: pl.DataFrame, *, csv, md, tex=None,
                title: str, notes: Sequence[str] = ()) -> None:
    """Write one table: numbers to CSV, the formatted cells to Markdown and LaTeX."""
    write_text(numeric.write_csv(float_precision=6), csv)
    write_text(render_markdown(display, title, notes), md)
    if tex:
        write_text(render_latex(display, title, notes), tex)


def write_provenance(path, *, config: dict, inputs: Sequence[str], wordnet_source, summaries: Sequence[str]) -> None:
    """What produced a table: config hash, package versions, WordNet checksum, the identity of the model
    behind every evaluation (keyed by its summary's path: model, seed and condition), and the sha1 of every
    input file."""
    wordnet = json.loads(Path(wordnet_source).read_text())
    models = {str(s): json.loads(Path(s).read_text())["model"] for s in summaries}
    write_json({"config_hash": config_hash(config), "packages": package_versions(), "wordnet": wordnet,
                "models": models, "seed": config["seed"],
                "bootstrap": config["evaluate"]["bootstrap"],
                "inputs": {str(p): sha1_file(p) for p in inputs}}, path)


# ---------------------------------------------------------------- several models on the same items
def by_model(conditions: Sequence[dict], *file_lists: Sequence[str]) -> list[tuple]:
    """(model, its conditions, its share of each file list) per model, in order. The rules list the records
    and the files model by model (rules/tables.smk), each model with as many files as every other."""
    conditions = list(conditions)
    models = list(dict.fromkeys(c["model"] for c in conditions))
    out = []
    for i, model in enumerate(models):
        shares = []
        for files in map(list, file_lists):
            if len(files) % len(models):
                raise ValueError(f"{len(files)} files for {len(models)} models: the models must have the same conditions")
            k = len(files) // len(models)
            shares.append(files[i * k:(i + 1) * k])
        out.append((model, [c for c in conditions if c["model"] == model], *shares))
    return out


def per_model(stats, conditions: Sequence[dict], *file_lists: Sequence[str], **kwargs) -> pl.DataFrame:
    """`stats(*files, conditions, **kwargs)` on each model's share, stacked under a leading `model` column;
    the chance row, the same for every model (same items), once at the end."""
    frames = []
    for model, conds, *files in by_model(conditions, *file_lists):
        df = stats(*files, conds, **kwargs)
        frames.append(df.select(pl.lit(model).alias("model"), pl.all()))
    df = pl.concat(frames, how="diagonal_relaxed")
    if "chance" not in df["condition"].to_list():
        return df
    is_chance = pl.col("condition") == "chance"
    return pl.concat([df.filter(~is_chance), df.filter(is_chance).head(1).with_columns(model=pl.lit(""))])


def several_models(numeric: pl.DataFrame) -> bool:
    return numeric.filter(pl.col("model") != "")["model"].n_unique() > 1

# ---------------------------------------------------------------- statistics per condition
def _load(predictions: Sequence[str], conditions: Sequence[dict]) -> dict[str, pl.DataFrame]:
    """name -> the condition's predictions, every replicate (config `seeds`) stacked with a `replicate` column.

    `predictions` lists each condition's files in condition order, one per replicate (rules/tables.smk:
    predictions()); the replicates share the items, so every statistic can pair them on (replicate, item)."""
    if not conditions or len(predictions) % len(conditions):
        raise ValueError(f"{len(predictions)} prediction files for {len(conditions)} conditions")
    k = len(predictions) // len(conditions)
    return {c["name"]: pl.concat([read_jsonl(p).with_columns(pl.lit(r).alias("replicate"))
                                  for r, p in enumerate(predictions[i * k:(i + 1) * k])], how="diagonal_relaxed")
            for i, c in enumerate(conditions)}


def _acc(df: pl.DataFrame, column: str, config: dict, key: str) -> dict:
    """Accuracy over every replicate's answers, its 95% CI (clips resampled, each drawn clip keeping every
    replicate's answers: item sampling, not training noise), the sd of the per-replicate accuracies (training
    noise; None for one replicate) and the number of items."""
    correct = df[column].cast(pl.Float64).to_numpy() if df.height else np.zeros(0)
    lo, hi = bootstrap_ci(correct, df["clip_id"].to_numpy() if df.height else np.zeros(0),
                          config["evaluate"]["bootstrap"], config["seed"], key)
    per_replicate = df.group_by("replicate").agg(pl.col(column).cast(pl.Float64).mean())[column].to_numpy() \
        if df.height else []
    return {"acc": float(correct.mean()) if correct.size else float("nan"), "lo": lo, "hi": hi,
            "sd": float(np.std(per_replicate, ddof=1)) if len(per_replicate) > 1 else None,
            "n": df.height // max(1, df["replicate"].n_unique() if df.height else 1)}


def _paired(base: pl.DataFrame | None, df: pl.DataFrame, column: str) -> dict:
    """Change and exact McNemar p against the baseline, on the (replicate, item) pairs both conditions answered:
    every replicate's pairs count (the test treats them as independent)."""
    if base is None:
        return {"delta": None, "p": None, "n_paired": None}
    joined = base.select("replicate", "item_id", pl.col(column).alias("a")).join(
        df.select("replicate", "item_id", pl.col(column).alias("b")), on=["replicate", "item_id"], how="inner")
    a, b = joined["a"].to_numpy().astype(bool), joined["b"].to_numpy().astype(bool)
    if not joined.height:
        return {"delta": None, "p": None, "n_paired": 0}
    return {"delta": float(b.mean() - a.mean()), "p": mcnemar(a, b), "n_paired": joined.height}


def _relations(frames: Sequence[pl.DataFrame]) -> list[str]:
    return ordered_relations(r for df in frames for r in df["relation"].drop_nulls().unique().to_list())


STAT_KEYS = ("acc", "lo", "hi", "sd", "n")


def _plane_point(semantic: dict, labelled: dict, name: str, config: dict) -> tuple[dict, dict]:
    """A condition's SHARD accuracy overall and its labelling by the caption protocol ({} where it is not
    labelled), under the semantic and labelling tables' bootstrap keys: every table and figure that places
    it on the reasoning-labelling plane gives the same numbers."""
    s = _acc(semantic[name], "correct", config, f"semantic/{name}/overall")
    lab = _labelling_metric(labelled[name], "caption", config, f"labelling/{name}/caption") if name in labelled else {}
    return s, lab


def _plane_columns(s: dict, lab: dict) -> dict:
    return {**{f"semantic_{k}": s[k] for k in STAT_KEYS}, "labelling_metric": lab.get("metric"),
            **{f"labelling_{k}": lab.get(k) for k in STAT_KEYS}}


def semantic_stats(predictions: Sequence[str], conditions: Sequence[dict], config: dict) -> pl.DataFrame:
    """One row per condition of one model (plus a chance row): accuracy, CI and n per relation and overall,
    change and McNemar p against `original`."""
    by_name = _load(predictions, conditions)
    frames = list(by_name.values())
    relations = _relations(frames)
    base = by_name.get(BASELINE)
    rows = []
    for cond, df in by_name.items():
        row: dict = {"condition": cond}
        for rel in [*relations, "overall"]:
            part = df if rel == "overall" else df.filter(pl.col("relation") == rel)
            for k, v in _acc(part, "correct", config, f"semantic/{cond}/{rel}").items():
                row[f"{rel}_{k}"] = v
        paired = _paired(base, df, "correct") if cond != BASELINE else {"delta": None, "p": None, "n_paired": None}
        row.update({f"{k}_vs_{BASELINE}": v for k, v in paired.items()})
        rows.append(row)
    ref = frames[0]
    chance_row: dict = {"condition": "chance"}
    for rel in [*relations, "overall"]:
        part = ref if rel == "overall" else ref.filter(pl.col("relation") == rel)
        chance_row[f"{rel}_acc"] = chance(part["n_options"].to_numpy()) if part.height else None
    rows.append(chance_row)
    return pl.DataFrame(rows, infer_schema_length=None)


def table_relations(numeric: pl.DataFrame) -> list[str]:
    """The relation columns of a semantic table's numbers, in order."""
    return [c.removesuffix("_acc") for c in numeric.columns if c.endswith("_acc") and c != "overall_acc"]


def _ns(numeric: pl.DataFrame, col: str) -> str:
    ns = numeric.filter(pl.col("condition") != "chance")[col].unique().to_list()
    return f" (n={ns[0]})" if len(ns) == 1 else ""


def _chance_or_ci(row: dict, prefix: str) -> str:
    if row["condition"] == "chance":
        return pct(row[f"{prefix}_acc"])
    return ci_cell(row[f"{prefix}_acc"], row[f"{prefix}_lo"], row[f"{prefix}_hi"], row.get(f"{prefix}_sd"))


def semantic_table(*, predictions, conditions, csv, md, tex, provenance, config: dict,
                   wordnet_source, summaries) -> None:
    """tables/semantic.*: SHARD accuracy per relation and overall, by condition."""
    numeric = per_model(semantic_stats, conditions, predictions, config=config)
    relations = table_relations(numeric)
    display = pl.DataFrame({
        "Model": numeric["model"],
        "Condition": numeric["condition"],
        **{f"{relation_title(rel)}{_ns(numeric, f'{rel}_n')}": [_chance_or_ci(r, rel) for r in numeric.iter_rows(named=True)]
           for rel in [*relations, "overall"]},
        f"Δ vs {BASELINE}": [delta_cell(d) for d in numeric[f"delta_vs_{BASELINE}"]],
        "p (McNemar)": [p_cell(p) for p in numeric[f"p_vs_{BASELINE}"]],
    })
    notes = ["Accuracy in % with 95% bootstrap CI (clips resampled); Δ in points against "
             f"'{BASELINE}', exact McNemar p paired on items.",
             "Chance: 50% for yes/no, 25% for 4-way multiple choice; the chance row averages over the items of each column.",
             SEED_NOTE]
    write_table(numeric, display, csv=csv, md=md, tex=tex, title="SHARD semantic reasoning accuracy", notes=notes)
    write_provenance(provenance, config=config, inputs=list(predictions), wordnet_source=wordnet_source,
                     summaries=summaries)


# ---------------------------------------------------------------- labelling
def _labelling_chance(df: pl.DataFrame) -> tuple[str, float | None]:
    """('acc', 1/n_labels) for a single-label corpus, ('map', mean label prevalence) for a multi-label one."""
    if not df.height:
        return "acc", None
    n_labels = len(df["option_scores"][0])
    if (df["gold_index"].list.len() > 1).any():
        return "map", map_chance(label_targets(df["gold_index"].to_list(), n_labels))
    return "acc", 1.0 / n_labels


def _labelling_metric(df: pl.DataFrame, protocol: str, config: dict, key: str) -> dict:
    """Accuracy (single-label corpus) or mAP (multi-label) of one protocol: 'caption' or 'loglik'."""
    metric, level = _labelling_chance(df)
    correct_col, scores_col = ("correct", "option_scores") if protocol == "caption" else ("correct_loglik", "loglik_scores")
    if metric == "acc":
        return {**_acc(df, correct_col, config, key), "metric": "acc", "chance": level}
    scores = np.array(df[scores_col].to_list(), dtype=float)
    targets = label_targets(df["gold_index"].to_list(), scores.shape[1])
    lo, hi = bootstrap_metric(lambda idx: mean_average_precision(scores[idx], targets[idx]),
                              df["clip_id"].to_numpy(), config["evaluate"]["bootstrap"], config["seed"], key)
    replicate = df["replicate"].to_numpy()
    per_replicate = [mean_average_precision(scores[replicate == r], targets[replicate == r]) for r in np.unique(replicate)]
    return {"acc": mean_average_precision(scores, targets), "lo": lo, "hi": hi,
            "sd": float(np.std(per_replicate, ddof=1)) if len(per_replicate) > 1 else None,
            "n": df.height // len(per_replicate), "metric": "map", "chance": level}


PROTOCOLS = {"caption": "Caption + embedding", "loglik": "Constrained log-lik"}


def labelling_stats(predictions: Sequence[str], conditions: Sequence[dict], config: dict) -> pl.DataFrame:
    by_name = _load(predictions, conditions)
    frames = list(by_name.values())
    base = by_name.get(BASELINE)
    rows = []
    for cond, df in by_name.items():
        row: dict = {"condition": cond}
        for proto in PROTOCOLS:
            m = _labelling_metric(df, proto, config, f"labelling/{cond}/{proto}")
            row.update({f"{proto}_{k}": m[k] for k in ("metric", "acc", "lo", "hi", "sd", "n")})
            if cond == BASELINE or base is None:
                row.update({f"{proto}_delta_vs_{BASELINE}": None, f"{proto}_p_vs_{BASELINE}": None})
                continue
            if m["metric"] == "acc":
                paired = _paired(base, df, "correct" if proto == "caption" else "correct_loglik")
                row.update({f"{proto}_delta_vs_{BASELINE}": paired["delta"], f"{proto}_p_vs_{BASELINE}": paired["p"]})
            else:  # mAP is not a per-item score: change only, no McNemar
                ref = _labelling_metric(base, proto, config, f"labelling/{BASELINE}/{proto}")
                row.update({f"{proto}_delta_vs_{BASELINE}": m["acc"] - ref["acc"], f"{proto}_p_vs_{BASELINE}": None})
        rows.append(row)
    metric, level = _labelling_chance(frames[0])
    rows.append({"condition": "chance", "caption_metric": metric, "caption_acc": level,
                 "loglik_metric": metric, "loglik_acc": level})
    return pl.DataFrame(rows, infer_schema_length=None)


def labelling_table(*, predictions, conditions, csv, md, tex, provenance, config: dict,
                    wordnet_source, summaries) -> None:
    """tables/labelling.*: audio labelling by LTU's caption protocol and by constrained log-likelihood."""
    numeric = per_model(labelling_stats, conditions, predictions, config=config)
    metric = "mAP" if "map" in numeric["caption_metric"].to_list() else "accuracy"
    rows = list(numeric.iter_rows(named=True))
    display = pl.DataFrame({
        "Model": numeric["model"],
        "Condition": numeric["condition"],
        **{f"{name}{_ns(numeric, f'{proto}_n')}": [_chance_or_ci(r, proto) for r in rows]
           for proto, name in PROTOCOLS.items()},
        **{f"Δ {proto}": [delta_cell(r[f"{proto}_delta_vs_{BASELINE}"]) for r in rows] for proto in PROTOCOLS},
        **{f"p {proto}": [p_cell(r[f"{proto}_p_vs_{BASELINE}"]) for r in rows] for proto in PROTOCOLS},
    })
    notes = [f"Labelling {metric} in % with 95% bootstrap CI (clips resampled); Δ in points against "
             f"'{BASELINE}', exact McNemar p paired on items (accuracy only).",
             "Caption + embedding: LTU's protocol (all-MiniLM-L6-v2, 'sound of ...', nearest label); "
             "constrained: highest log-likelihood label name.",
             "Chance: 1/number of labels for accuracy; mean label prevalence for mAP.", SEED_NOTE]
    write_table(numeric, display, csv=csv, md=md, tex=tex, title=f"Audio labelling {metric}", notes=notes)
    write_provenance(provenance, config=config, inputs=list(predictions), wordnet_source=wordnet_source,
                     summaries=summaries)


# ---------------------------------------------------------------- controls that locate the failure
def perception_stats(semantic_predictions, labelling_predictions, conditions, config: dict) -> pl.DataFrame:
    """One row per condition that hears the clips: SHARD accuracy on every item and on the items whose clip
    the same condition labels correctly (LTU's caption protocol), the same model's blind and text-oracle
    accuracy, and the integration gap: text oracle minus audio on the correctly perceived items, paired by
    item (CI: clips resampled)."""
    semantic = _load(semantic_predictions, conditions)
    labelled = _load(labelling_predictions, [c for c in conditions if "labelling" in c["tasks"]])
    by_name = {c["name"]: c for c in conditions}
    blind, oracle = controls(list(conditions), "silence"), controls(list(conditions), "label")
    rows = []
    for name, cond in by_name.items():
        if cond["audio"] != "clip" or name not in labelled:
            continue
        lab, df = labelled[name], semantic[name]
        # perception is per replicate: a seed's items count where that seed labels their clip right
        perceived = lab.filter(pl.col("correct")).select("replicate", "clip_id")
        seen = df.join(perceived, on=["replicate", "clip_id"], how="semi")
        row = {"condition": name, "labelling_acc": float(lab["correct"].mean()) if lab.height else None,
               "clips_perceived": perceived.height, "clips": lab.height}
        for prefix, part in (("all", df), ("perceived", seen)):
            row.update({f"{prefix}_{k}": v for k, v in _acc(part, "correct", config, f"perception/{name}/{prefix}").items()})
        for prefix, ctrl in (("blind", blind.get(cond["run"])), ("oracle", oracle.get(cond["run"]))):
            part = semantic[ctrl["name"]] if ctrl else pl.DataFrame()
            stats = _acc(part, "correct", config, f"perception/{name}/{prefix}") if ctrl else {"acc": None, "lo": None, "hi": None, "n": 0}
            row.update({f"{prefix}_condition": ctrl["name"] if ctrl else None, **{f"{prefix}_{k}": v for k, v in stats.items()}})
        gap = {"gap": None, "gap_lo": None, "gap_hi": None}
        ctrl = oracle.get(cond["run"])
        if ctrl and seen.height:
            paired = seen.select("replicate", "item_id", "clip_id", pl.col("correct").alias("audio")).join(
                semantic[ctrl["name"]].select("replicate", "item_id", pl.col("correct").alias("text")),
                on=["replicate", "item_id"])
            diff = paired["text"].cast(pl.Float64).to_numpy() - paired["audio"].cast(pl.Float64).to_numpy()
            lo, hi = bootstrap_ci(diff, paired["clip_id"].to_numpy(), config["evaluate"]["bootstrap"], config["seed"],
                                  f"perception/{name}/gap")
            gap = {"gap": float(diff.mean()), "gap_lo": lo, "gap_hi": hi}
        rows.append({**row, **gap})
    return pl.DataFrame(rows, infer_schema_length=None)


def perception_table(*, semantic_predictions, labelling_predictions, conditions, csv, md, provenance,
                     config: dict, wordnet_source, summaries) -> None:
    """tables/perception.*: does reasoning fail, or perception, or their integration?"""
    numeric = per_model(perception_stats, conditions, semantic_predictions, labelling_predictions, config=config)
    rows = list(numeric.iter_rows(named=True))
    display = pl.DataFrame({
        "Model": numeric["model"],
        "Condition": numeric["condition"],
        "Clips labelled right": [f"{r['clips_perceived']}/{r['clips']} ({pct(r['labelling_acc'])}%)" for r in rows],
        "SHARD, all items": [ci_cell(r["all_acc"], r["all_lo"], r["all_hi"], r["all_sd"]) for r in rows],
        "SHARD, clip labelled right": [ci_cell(r["perceived_acc"], r["perceived_lo"], r["perceived_hi"], r["perceived_sd"]) for r in rows],
        "Blind": [ci_cell(r["blind_acc"], r["blind_lo"], r["blind_hi"], r.get("blind_sd")) for r in rows],
        "Text oracle": [ci_cell(r["oracle_acc"], r["oracle_lo"], r["oracle_hi"], r.get("oracle_sd")) for r in rows],
        "Integration gap": [NA if _missing(r["gap"]) else f"{100 * r['gap']:+.1f} [{100 * r['gap_lo']:+.1f}, {100 * r['gap_hi']:+.1f}]"
                            for r in rows],
    })
    notes = ["SHARD accuracy in % with 95% bootstrap CI (clips resampled; ± sd over seeds when there are several). "
             "Clip labelled right: the same condition names the clip's label (caption protocol; counts summed over seeds). Blind: the same model with every clip silenced. Text oracle: "
             "the same model with each clip's label written in its place (no audio).",
             "Integration gap: text oracle minus audio on the items whose clip is labelled right, paired by item, "
             "in points; > 0: the model reasons better from the label as text than from audio it did perceive."]
    write_table(numeric, display, csv=csv, md=md, title="Perception, reasoning and their integration", notes=notes)
    write_provenance(provenance, config=config, inputs=[*semantic_predictions, *labelling_predictions],
                     wordnet_source=wordnet_source, summaries=summaries)


# ---------------------------------------------------------------- several models side by side
def models_stats(semantic_predictions, labelling_predictions, conditions, config: dict) -> pl.DataFrame:
    """One row per (condition, model), conditions in table order: SHARD accuracy (overall) and labelling
    (caption protocol; controls are not labelled), and for every model after the first its SHARD change
    against the first model's same condition, McNemar paired on (seed, item): the same items, so the
    comparison is paired."""
    loaded = [(model, _load(sem, conds), _load(lab, [c for c in conds if "labelling" in c["tasks"]]))
              for model, conds, sem, lab in by_model(conditions, semantic_predictions, labelling_predictions)]
    _, ref, _ = loaded[0]
    rows = []
    for name in ref:
        for i, (model, semantic, labelled) in enumerate(loaded):
            paired = _paired(ref[name], semantic[name], "correct") if i else {"delta": None, "p": None}
            rows.append({"condition": name, "model": model, **_plane_columns(*_plane_point(semantic, labelled, name, config)),
                         "delta_vs_first": paired["delta"], "p_vs_first": paired["p"]})
    return pl.DataFrame(rows, infer_schema_length=None)


def models_table(*, semantic_predictions, labelling_predictions, conditions, csv, md, provenance, config: dict,
                 wordnet_source, summaries) -> None:
    """tables/models.*: the study's conditions with every model side by side, on the same items."""
    numeric = models_stats(list(semantic_predictions), list(labelling_predictions), list(conditions), config)
    models = list(dict.fromkeys(numeric["model"]))
    metric = "mAP" if "map" in numeric["labelling_metric"].drop_nulls().to_list() else "accuracy"
    cell = lambda r, task: ci_cell(r[f"{task}_acc"], r[f"{task}_lo"], r[f"{task}_hi"], r[f"{task}_sd"])  # noqa: E731
    by = {(r["condition"], r["model"]): r for r in numeric.iter_rows(named=True)}
    names = list(dict.fromkeys(numeric["condition"]))
    columns: dict[str, list[str]] = {"Condition": names}
    for m in models:
        columns[f"{m} SHARD"] = [cell(by[n, m], "semantic") for n in names]
        columns[f"{m} labelling"] = [cell(by[n, m], "labelling") for n in names]
    for m in models[1:]:
        columns[f"Δ SHARD {m} − {models[0]}"] = [delta_cell(by[n, m]["delta_vs_first"]) for n in names]
        columns[f"p {m}"] = [p_cell(by[n, m]["p_vs_first"]) for n in names]
    notes = [f"SHARD accuracy and labelling {metric} (caption protocol) in % with 95% bootstrap CI (clips resampled); "
             "every model answers the same items. Δ: a model's SHARD accuracy minus the first model's in the same "
             "condition, in points; exact McNemar p paired on (seed, item). –: not labelled (the controls are scored on SHARD "
             "only, the base model's blind on both).",
             SEED_NOTE]
    write_table(numeric, pl.DataFrame(columns), csv=csv, md=md, title="The study's conditions, model by model",
                notes=notes)
    write_provenance(provenance, config=config, inputs=[*semantic_predictions, *labelling_predictions],
                     wordnet_source=wordnet_source, summaries=summaries)


# ---------------------------------------------------------------- scaling and the trade-off
def scaling_stats(semantic_predictions, labelling_predictions, conditions, scales: dict, config: dict) -> pl.DataFrame:
    """One row per point of the trade-off curve (shard.conditions.scaling_curve)."""
    semantic, labelled = _load(semantic_predictions, conditions), _load(labelling_predictions, conditions)
    rows = []
    for cond, n_prompts in scaling_curve(list(conditions), scales):
        rows.append({"scale": cond["scale"] or "0", "n_prompts": n_prompts, "condition": cond["name"],
                     **_plane_columns(*_plane_point(semantic, labelled, cond["name"], config))})
    return pl.DataFrame(rows, infer_schema_length=None)


def scaling_table(*, semantic_predictions, labelling_predictions, conditions, scales: dict, csv, md,
                  provenance, config: dict, wordnet_source, summaries) -> None:
    """tables/scaling.*: one row per training scale (0 = the base model, interleaved prompts)."""
    numeric = per_model(scaling_stats, conditions, semantic_predictions, labelling_predictions, scales=scales,
                        config=config)
    metric = "mAP" if "map" in numeric["labelling_metric"].to_list() else "accuracy"
    display = pl.DataFrame({
        "Model": numeric["model"],
        "Training prompts": [f"{n:,}" for n in numeric["n_prompts"]],
        "Condition": numeric["condition"],
        "Semantic accuracy": [ci_cell(r["semantic_acc"], r["semantic_lo"], r["semantic_hi"], r["semantic_sd"])
                              for r in numeric.iter_rows(named=True)],
        f"Labelling {metric}": [ci_cell(r["labelling_acc"], r["labelling_lo"], r["labelling_hi"], r["labelling_sd"])
                                for r in numeric.iter_rows(named=True)],
    })
    notes = ["In % with 95% bootstrap CI (clips resampled); interleaved prompts at test; "
             "labelling by LTU's caption + embedding protocol. 0 training prompts = the base model.", SEED_NOTE]
    write_table(numeric, display, csv=csv, md=md, title="Reasoning vs labelling by training scale", notes=notes)
    write_provenance(provenance, config=config, inputs=[*semantic_predictions, *labelling_predictions],
                     wordnet_source=wordnet_source, summaries=summaries)


# ---------------------------------------------------------------- the reasoning-labelling plane
def plane_figure(png, points: Sequence[tuple[str, dict, dict]], *, metric: str, title: str,
                 lines: Sequence[tuple[str | None, Sequence[tuple[float, float]]]] = (), line_style: str = "--",
                 chance: tuple[float | None, float | None] = (None, None), models: Sequence[str] | None = None) -> None:
    """One point per (label, semantic stats, labelling stats) with its CIs on both axes, lines (label, (x, y)
    points in %; e.g. one per model) and the chance levels: figures/tradeoff.png and figures/forgetting.png.
    With `models` (each point's) naming several, a model is a colour and a condition a marker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "shard", "font.size": 9})
    fig, ax = plt.subplots(figsize=(5.5, 4.2), dpi=120)
    several = models is not None and len(set(models)) > 1
    order = list(dict.fromkeys(models)) if several else []
    for i, (label, s, l) in enumerate(points):
        # several models: the model's colour, the marker of the condition's place among its model's points
        colour, marker = (order.index(models[i]), models[:i].count(models[i])) if several else (i, i)
        ax.errorbar(100 * s["acc"], 100 * l["acc"],
                    xerr=[[100 * (s["acc"] - s["lo"])], [100 * (s["hi"] - s["acc"])]],
                    yerr=[[100 * (l["acc"] - l["lo"])], [100 * (l["hi"] - l["acc"])]],
                    fmt="os^vDP*X<>ph"[marker % 12], capsize=3, label=label, color=f"C{colour % 10}")
    for i, (label, line) in enumerate(lines):
        if len(line) > 1:
            ax.plot([p[0] for p in line], [p[1] for p in line], line_style, color=f"{0.5 - 0.2 * (i % 3):.1f}", lw=1.1,
                    zorder=0, label=label)
    if chance[0] is not None:
        ax.axvline(100 * chance[0], color="0.4", ls=":", lw=1, label="chance")
    if chance[1] is not None:
        ax.axhline(100 * chance[1], color="0.4", ls=":", lw=1)
    ax.set_xlabel("SHARD semantic accuracy (%)")
    ax.set_ylabel(f"Audio labelling {metric} (%)")
    ax.set_title(title)
    ax.legend(fontsize=8 if len(points) <= 8 else 6, loc="best")
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)


# ---------------------------------------------------------------- forgetting: replay and curriculum
def pareto_front(x: Sequence[float], y: Sequence[float]) -> list[bool]:
    """True where no other point is at least as good on both axes and better on one."""
    return [not any((x2 >= x1 and y2 >= y1) and (x2 > x1 or y2 > y1) for x2, y2 in zip(x, y))
            for x1, y1 in zip(x, y)]


def forgetting_stats(semantic_predictions, labelling_predictions, conditions, config: dict) -> pl.DataFrame:
    """One row per model that hears the clips (the base model and every fine-tuning run: scale x replay
    fraction x order), SHARD and labelling accuracy with CIs, and whether it is on the Pareto front."""
    conditions = list(conditions)
    semantic, labelled = _load(semantic_predictions, conditions), _load(labelling_predictions, conditions)
    rows = []
    for cond in sorted(heard(conditions), key=lambda c: (c["n_prompts"], c["replay"], c["order"] or "")):
        rows.append({"condition": cond["name"], "n_prompts": cond["n_prompts"], "replay": cond["replay"],
                     "order": cond["order"] or "–", **_plane_columns(*_plane_point(semantic, labelled, cond["name"], config))})
    df = pl.DataFrame(rows, infer_schema_length=None)
    return df.with_columns(pl.Series("pareto", pareto_front(df["semantic_acc"].to_list(), df["labelling_acc"].to_list())))


def forgetting_table(*, semantic_predictions, labelling_predictions, conditions, csv, md, png, provenance,
                     config: dict, wordnet_source, summaries) -> None:
    """tables/forgetting.* and figures/forgetting.png: can replay or a curriculum keep labelling while
    reasoning improves?"""
    numeric = per_model(forgetting_stats, conditions, semantic_predictions, labelling_predictions, config=config)
    rows = list(numeric.iter_rows(named=True))
    metric = "mAP" if "map" in numeric["labelling_metric"].to_list() else "accuracy"
    display = pl.DataFrame({
        "Model": numeric["model"],
        "Training prompts": [f"{r['n_prompts']:,}" for r in rows],
        "Replay": [f"{100 * r['replay']:.0f}%" for r in rows],
        "Order": numeric["order"],
        "Condition": numeric["condition"],
        "Semantic accuracy": [ci_cell(r["semantic_acc"], r["semantic_lo"], r["semantic_hi"], r["semantic_sd"]) for r in rows],
        f"Labelling {metric}": [ci_cell(r["labelling_acc"], r["labelling_lo"], r["labelling_hi"], r["labelling_sd"])
                                for r in rows],
        "Pareto": ["yes" if r["pareto"] else "" for r in rows],
    })
    notes = ["In % with 95% bootstrap CI (clips resampled); interleaved prompts at test; labelling by LTU's caption "
             "protocol. Replay: share of labelling prompts in the training prompts; order: mixed, or curriculum "
             "(the labelling prompts first). Pareto: no other run of the same model is at least as good on both and better on one "
             "(point estimates).", SEED_NOTE]
    write_table(numeric, display, csv=csv, md=md, title="Forgetting: reasoning vs labelling by training recipe",
                notes=notes)
    write_provenance(provenance, config=config, inputs=[*semantic_predictions, *labelling_predictions],
                     wordnet_source=wordnet_source, summaries=summaries)

    stats = lambda r, task: {k: r[f"{task}_{k}"] for k in ("acc", "lo", "hi")}  # noqa: E731
    several = several_models(numeric)
    fronts = [(f"Pareto front ({m})" if several else "Pareto front",
               sorted((100 * r["semantic_acc"], 100 * r["labelling_acc"]) for r in rows if r["pareto"] and r["model"] == m))
              for m in dict.fromkeys(numeric["model"])]
    plane_figure(png, [(display_name(r["model"], r["condition"], several), stats(r, "semantic"), stats(r, "labelling")) for r in rows],
                 metric=metric, title="Forgetting by training recipe (95% CI, clips resampled)", line_style="-",
                 lines=fronts, models=[r["model"] for r in rows])


def tradeoff_figure(*, semantic_predictions, labelling_predictions, conditions, png, config: dict,
                    scales: dict) -> None:
    """figures/tradeoff.png: semantic accuracy (x) vs labelling accuracy (y), one point per (model, condition),
    each model's scaling curve (base at 0 prompts through each scale) as a line."""
    points, models, curves, sem_chance, lab_chance, metric = [], [], [], None, None, "accuracy"
    parts = by_model(conditions, semantic_predictions, labelling_predictions)
    for model, conds, sem, lab in parts:
        semantic, labelled = _load(sem, conds), _load(lab, conds)
        xy = {}
        for cond in semantic:
            s, l = _plane_point(semantic, labelled, cond, config)
            sem_chance = sem_chance if sem_chance is not None else chance(semantic[cond]["n_options"].to_numpy())
            lab_chance = lab_chance if lab_chance is not None else l["chance"]
            metric = "mAP" if l["metric"] == "map" else metric
            points.append((display_name(model, cond, len(parts) > 1), s, l))
            models.append(model)
            xy[cond] = (100 * s["acc"], 100 * l["acc"])
        curves.append((model if len(parts) > 1 else None, [xy[c["name"]] for c, _ in scaling_curve(conds, scales)]))
    plane_figure(png, points, metric=metric, title="Reasoning vs labelling trade-off (95% CI, clips resampled)",
                 lines=curves, chance=(sem_chance, lab_chance), models=models)
