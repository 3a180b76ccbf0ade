"""Surface-cue baselines (tables/artifacts.*): can the text of an item alone answer it?

Each baseline sees only what a blind reader sees (the question and the words offered) and never the
audio or the label. If any of them beats chance on the test items, the items carry a shortcut and the
item generator (shard.dataset.items) is what must change, not this table.

- always yes (yes/no);
- most frequent word by wordfreq's Zipf frequency (mc4: the commonest option; yes/no: yes iff the
  candidate is commoner than the median candidate of its relation);
- longest word in characters (same rules as frequency);
- the option most similar to the question text by all-MiniLM-L6-v2 (mc4);
- a logistic regression on each option's Zipf frequency, length (characters, words) and MiniLM
  similarity to the question, per relation, cross-validated with folds grouped by clip (no clip is
  in both the fitted and the scored fold).

A tie between the options a baseline picks from earns the expected credit of breaking it at random
(1/k for a k-way tie), so no baseline depends on option order. Accuracy comes with a 95% bootstrap CI
resampling clips (shard.evaluation.stats.bootstrap_ci) and the chance level.
"""
from __future__ import annotations

import math

import numpy as np
import polars as pl
from scipy.optimize import minimize

from shard.dataset import surface
from shard.prompts import templates
from shard.common import rng
from shard.evaluation.stats import bootstrap_ci

FOLDS = 5  # group k-fold by clip for the logistic regression
SWAPS = 50  # tries per clip at evening out the stratified folds
L2 = 1e-2  # ridge penalty per item on the (standardised) logistic regression weights
FEATURES = ("zipf", "chars", "words", "similarity")
BASELINES = {  # name -> (display name, formats it applies to)
    "always_yes": ("Always yes", ("yesno",)),
    "most_frequent": ("Most frequent word (wordfreq)", ("yesno", "mc4")),
    "longest": ("Longest word", ("yesno", "mc4")),
    "most_similar": ("Most similar to the question (MiniLM)", ("mc4",)),
    "logistic": (f"Logistic regression on {', '.join(FEATURES)} ({FOLDS}-fold CV by clip)", ("yesno", "mc4")),
}
CHANCE = {"yesno": 0.5, "mc4": 0.25}
FORMAT_TITLES = {"yesno": "yes/no", "mc4": "mc4"}
NOT_SCORED = "n/a"  # a baseline the items are too few to score (the notes say why)
TITLE = "Surface-cue baselines on the SHARD test items (text only)"


# ---------------------------------------------------------------- word features
def _item_words(row: dict) -> list[str]:
    return list(row["options"]) if row["format"] == "mc4" else [row["candidate"]]


def option_features(items: pl.DataFrame, embed) -> list[np.ndarray]:
    """Per item, an (n_words, 4) array: the FEATURES of each option (mc4) or of the candidate (yes/no)."""
    words = {w for row in items.iter_rows(named=True) for w in _item_words(row)}
    sim = surface.similarity(words, items["template_id"].unique().to_list(), embed)
    freq = {w: surface.zipf(w) for w in words}
    return [np.array([[freq[w], len(w), surface.n_words(w), sim[(w, row["template_id"])]] for w in _item_words(row)], dtype=float)
            for row in items.iter_rows(named=True)]


# ---------------------------------------------------------------- the rule-based baselines
def _argmax_credit(values: np.ndarray, answer: int) -> float:
    """Credit of picking the largest value, ties broken at random: 1/k if the answer is among k maxima."""
    top = np.flatnonzero(values == values.max())
    return 1.0 / top.size if answer in top else 0.0


def _median_credit(values: np.ndarray, relation: np.ndarray, yes: np.ndarray) -> np.ndarray:
    """Yes/no: say yes iff the candidate's value exceeds the median candidate of its relation (half
    credit at the median, where the rule cannot decide)."""
    credit = np.zeros(values.size)
    for rel in np.unique(relation):
        at = relation == rel
        med = np.median(values[at])
        credit[at] = np.where(values[at] == med, 0.5, (values[at] > med) == yes[at])
    return credit


def rule_baseline(name: str, fmt: str, items: pl.DataFrame, features: list[np.ndarray]) -> np.ndarray:
    """Per-item credit (0..1) of one rule-based baseline on items of one format."""
    column = {"most_frequent": 0, "longest": 1, "most_similar": 3}.get(name)
    if fmt == "yesno":
        yes = (items["answer"] == templates.YES).to_numpy()
        if name == "always_yes":
            return yes.astype(float)
        values = np.array([f[0, column] for f in features])
        return _median_credit(values, items["relation"].to_numpy(), yes)
    answers = items["answer_index"].to_numpy()
    return np.array([_argmax_credit(f[:, column], a) for f, a in zip(features, answers)])


# ---------------------------------------------------------------- logistic regression, CV grouped by clip
def group_folds(groups: np.ndarray, k: int, seed: int, strata: np.ndarray | None = None) -> np.ndarray:
    """Fold (0..k-1) of each item; every item of a clip (`groups`) lies in one fold, and the folds hold
    clips in equal numbers (within one).

    With `strata` (per item, a vector: what the item adds to the signal a model would learn, e.g. the
    answer's features less its options' mean), the folds are stratified: clips are dealt, largest sum
    first, each to the open fold whose sum it brings nearest zero. Without it a fold's imbalance is
    mirrored, with the opposite sign, in the folds it is scored against whenever the whole set is
    balanced (as SHARD's items are built to be), and cross-validation scores below chance ("anti-learning");
    a real cue, shared by all clips, still reaches every fold. Ties go in a seeded order."""
    clips, inverse = np.unique(np.asarray(groups), return_inverse=True)
    order = rng(seed, "artifacts", "folds").permutation(clips.size)
    fold_of_clip = np.empty(clips.size, dtype=int)
    if strata is None:
        fold_of_clip[order] = np.arange(clips.size) % k
        return fold_of_clip[inverse]
    strata = np.asarray(strata, dtype=float).reshape(len(inverse), -1)
    per_clip = np.zeros((clips.size, strata.shape[1]))
    np.add.at(per_clip, inverse, strata)
    order = order[np.argsort(-np.linalg.norm(per_clip[order], axis=1), kind="stable")]
    sums, sizes, cap = np.zeros((k, strata.shape[1])), np.zeros(k, dtype=int), -(-clips.size // k)
    for c in order:
        open_ = np.flatnonzero(sizes < cap)
        f = open_[np.argmin(np.linalg.norm(sums[open_] + per_clip[c], axis=1))]
        fold_of_clip[c], sizes[f] = f, sizes[f] + 1
        sums[f] += per_clip[c]
    g = rng(seed, "artifacts", "folds", "swaps")
    for _ in range(SWAPS * clips.size):  # then swap clip pairs between folds while that evens the folds out
        a, b = g.integers(clips.size, size=2)
        fa, fb = fold_of_clip[a], fold_of_clip[b]
        if fa == fb:
            continue
        d = per_clip[b] - per_clip[a]
        if np.sum((sums[fa] + d) ** 2) + np.sum((sums[fb] - d) ** 2) < np.sum(sums[fa] ** 2) + np.sum(sums[fb] ** 2):
            sums[fa] += d
            sums[fb] -= d
            fold_of_clip[a], fold_of_clip[b] = fb, fa
    return fold_of_clip[inverse]


def _design(features: list[np.ndarray], fmt: str, relation: np.ndarray, relations: list[str],
            mean: np.ndarray, sd: np.ndarray) -> list[np.ndarray]:
    """Per item, the options' rows of the design matrix: standardised features in the block of the
    item's relation (each relation its own weights). Yes/no items are a choice between the candidate
    (features and a per-relation intercept) and "no" (all zeros): a binary logistic regression."""
    width = len(relations) * (len(FEATURES) + 1)
    out = []
    for f, rel in zip(features, relation):
        block = relations.index(rel) * (len(FEATURES) + 1)
        rows = np.zeros((f.shape[0] + (fmt == "yesno"), width))
        rows[:f.shape[0], block:block + len(FEATURES)] = (f - mean) / sd
        if fmt == "yesno":
            rows[0, block + len(FEATURES)] = 1.0
        out.append(rows)
    return out


def _fit(design: list[np.ndarray], target: np.ndarray) -> np.ndarray:
    """Weights of a conditional logit (softmax over each item's options), L2-penalised, by L-BFGS."""
    X = np.stack(design)  # every item of one format has the same number of options
    n = X.shape[0]

    def loss(w):
        s = X @ w
        s -= s.max(axis=1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=1, keepdims=True)
        nll = -np.log(p[np.arange(n), target]).sum() + L2 * n * (w @ w) / 2
        p[np.arange(n), target] -= 1.0
        return nll, np.einsum("io,iod->d", p, X) + L2 * n * w

    w0 = np.zeros(X.shape[2])
    return minimize(loss, w0, jac=True, method="L-BFGS-B").x


def _word_signal(items: pl.DataFrame, fmt: str) -> np.ndarray:
    """Per item, over the words offered: +1 for the right one, -1 spread over the wrong ones (yes/no:
    the candidate, +1 for a yes and -1 for a no)."""
    rows = [(_item_words(r), r["answer_index"] if fmt == "mc4" else (0 if r["answer"] == templates.YES else None))
            for r in items.iter_rows(named=True)]
    vocab = {w: i for i, w in enumerate(sorted({w for words, _ in rows for w in words}))}
    out = np.zeros((len(rows), len(vocab)))
    for i, (words, right) in enumerate(rows):
        for j, w in enumerate(words):
            out[i, vocab[w]] += 1.0 if j == right else -1.0 / max(len(words) - 1, 1)
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    """Columns scaled so the whole block has unit mean squared row norm (blocks weigh alike)."""
    scale = np.sqrt((x ** 2).sum(axis=1).mean())
    return x / scale if scale > 0 else x


def too_few_clips(items: pl.DataFrame) -> str | None:
    """Why the logistic regression cannot be cross-validated on `items` (of one format), or None: each of the
    FOLDS folds needs a clip of its own."""
    n = items["clip_id"].n_unique()
    if n >= FOLDS:
        return None
    return (f"too few test clips for {FOLDS} folds ({n} test clip{'' if n == 1 else 's'} with items of this format); "
            "a corpus with more recordings per label, or a larger clips.test_fraction, gives more")


def logistic_baseline(fmt: str, items: pl.DataFrame, features: list[np.ndarray], seed: int) -> np.ndarray:
    """Per-item credit of the logistic regression, each item scored by the model fitted on the other folds."""
    if not items.height:
        return np.zeros(0)
    if (why := too_few_clips(items)) is not None:
        raise ValueError(why)
    relation = items["relation"].to_numpy()
    relations = sorted(set(relation))
    target = (items["answer"] != templates.YES).to_numpy().astype(int) if fmt == "yesno" else items["answer_index"].to_numpy()
    allf = np.concatenate(features)
    design = _design(features, fmt, relation, relations, allf.mean(axis=0), np.where(allf.std(axis=0) > 0, allf.std(axis=0), 1.0))
    # stratify the folds on what each item adds to the gradient at zero weights (the right option's row
    # less the options' mean) and on which words it offers right and wrong
    signal = np.stack([d[t] - d.mean(axis=0) for d, t in zip(design, target)])
    folds = group_folds(items["clip_id"].to_numpy(), FOLDS, seed, np.hstack([_unit(signal), _unit(_word_signal(items, fmt))]))
    credit = np.zeros(items.height)
    for k in range(FOLDS):
        train, test = folds != k, folds == k
        if not test.any():
            continue
        fitted = np.concatenate([f for f, t in zip(features, train) if t])
        mean, sd = fitted.mean(axis=0), fitted.std(axis=0)
        sd[sd == 0] = 1.0
        design = _design(features, fmt, relation, relations, mean, sd)
        w = _fit([d for d, t in zip(design, train) if t], target[train]) if train.any() else np.zeros(design[0].shape[1])
        for i in np.flatnonzero(test):
            credit[i] = _argmax_credit(design[i] @ w, int(target[i]))
    return credit


# ---------------------------------------------------------------- the table
def artifact_stats(items: pl.DataFrame, embed, n_boot: int, seed: int) -> pl.DataFrame:
    """One row per (baseline, format): accuracy, 95% CI (clips resampled), n, per relation and
    overall; the chance level; whether chance lies inside every CI (of the relations the format has)."""
    from shard.dataset.relations import ordered_relations

    items = items.sort("item_id")
    relations = ordered_relations(items["relation"])
    rows = []
    for fmt in ("yesno", "mc4"):
        part = items.filter(pl.col("format") == fmt)
        if not part.height:
            continue
        features = option_features(part, embed)
        for name, (_, formats) in BASELINES.items():
            if fmt not in formats:
                continue
            row = {"baseline": name, "format": fmt, "chance": CHANCE[fmt]}
            why_not = too_few_clips(part) if name == "logistic" else None
            if why_not is not None:  # a row of n/a that says why, not a failed run
                for rel in [*relations, "overall"]:
                    at = part.height if rel == "overall" else int((part["relation"] == rel).sum())
                    row.update({f"{rel}_acc": math.nan, f"{rel}_lo": math.nan, f"{rel}_hi": math.nan, f"{rel}_n": at})
                rows.append({**row, "chance_in_ci": None, "not_scored": why_not})
                continue
            credit = (logistic_baseline(fmt, part, features, seed) if name == "logistic"
                      else rule_baseline(name, fmt, part, features))
            inside = True
            for rel in [*relations, "overall"]:
                at = np.ones(part.height, bool) if rel == "overall" else (part["relation"] == rel).to_numpy()
                lo, hi = bootstrap_ci(credit[at], part["clip_id"].to_numpy()[at], n_boot, seed, f"artifacts/{name}/{fmt}/{rel}")
                acc = float(credit[at].mean()) if at.any() else float("nan")
                row.update({f"{rel}_acc": acc, f"{rel}_lo": lo, f"{rel}_hi": hi, f"{rel}_n": int(at.sum())})
                if at.any():  # a relation this format has no items of is no evidence either way
                    inside &= lo - 1e-9 <= CHANCE[fmt] <= hi + 1e-9
            row["chance_in_ci"] = inside
            rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None)


def artifact_display(numeric: pl.DataFrame) -> pl.DataFrame:
    from shard.dataset.relations import relation_title
    from shard.reporting.render import ci_cell, pct

    relations = [c[:-4] for c in numeric.columns if c.endswith("_acc") and c != "overall_acc"]
    rows = list(numeric.iter_rows(named=True))
    scored = [r.get("not_scored") is None for r in rows]
    return pl.DataFrame({
        "Baseline": [BASELINES[r["baseline"]][0] for r in rows],
        "Format": [FORMAT_TITLES[r["format"]] for r in rows],
        **{relation_title(rel): [ci_cell(r[f"{rel}_acc"], r[f"{rel}_lo"], r[f"{rel}_hi"]) if ok else NOT_SCORED
                                 for r, ok in zip(rows, scored)]
           for rel in [*relations, "overall"]},
        "n": [str(r["overall_n"]) for r in rows],
        "Chance": [pct(r["chance"]) for r in rows],
        "Chance in CI": [("yes" if r["chance_in_ci"] else "NO") if ok else NOT_SCORED for r, ok in zip(rows, scored)],
    })


def artifact_notes(numeric: pl.DataFrame) -> list[str]:
    """NOTES, and why each baseline that could not be scored is n/a."""
    if "not_scored" not in numeric.columns:
        return NOTES
    skipped = numeric.filter(pl.col("not_scored").is_not_null()).iter_rows(named=True)
    return NOTES + [f"{BASELINES[r['baseline']][0]}, {FORMAT_TITLES[r['format']]}: {NOT_SCORED}, {r['not_scored']}."
                    for r in skipped]


NOTES = ["Accuracy in % with 95% bootstrap CI (clips resampled); text only (question and options, no audio, "
         "no label). Ties count 1/k of a point.",
         "Yes/no frequency and length rules: yes iff the candidate exceeds the median candidate of its relation. "
         "Chance in CI: chance lies inside the CI of every relation and overall."]


def artifacts_table(*, test, csv, md, provenance, config: dict, wordnet_source) -> None:
    """tables/artifacts.{csv,md}: the surface-cue baselines on the test items."""
    from shard.reporting.provenance import write_provenance
    from shard.reporting.render import write_table

    numeric = artifact_stats(pl.read_parquet(test), surface.exact_embedder(), config["evaluate"]["bootstrap"], config["seed"])
    write_table(numeric, artifact_display(numeric), csv=csv, md=md, title=TITLE, notes=artifact_notes(numeric))
    write_provenance(provenance, config=config, inputs=[test], wordnet_source=wordnet_source, summaries=[])
