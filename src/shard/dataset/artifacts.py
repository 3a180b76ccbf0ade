"""Surface-cue baselines (tables/artifacts.*): can the text of an item alone answer it?

Each baseline sees only what a blind reader sees (the question and the words offered) and never the
audio or the label. If any of them beats chance on the test items, the items carry a shortcut and the
item generator (shard.dataset.items) is what must change, not this table.

Rules (no fitting):
- always yes (yes/no);
- most frequent word by wordfreq's Zipf frequency (mc4: the commonest option; yes/no: yes iff the
  candidate is commoner than the median candidate of its relation);
- longest word in characters (same rules as frequency);
- the option most similar to the question text by all-MiniLM-L6-v2 (mc4);
- the option nearest to, and the one farthest from, the options' centroid in standardised feature
  space (mc4): a right word matched to its distractors from above and below sits in their middle.

Learned models, each item scored by a model fitted on the other folds:
- a logistic regression on each option's FEATURES (Zipf frequency, length in characters and in
  words, MiniLM similarity to the question), per relation;
- gradient boosting (non-linear: it sees centrality, which a linear model cannot) on each option's
  features, the features less the item's options' mean, and those squared (yes/no: the candidate's
  features and their squares), with the relation;
- a bag of words (logistic regression on one-hot words): mc4, the option word and the relation;
  yes/no, the candidate word, the question template and the relation, so a word's prior of being
  right shows.

Cross-validation folds are grouped by the item's text: items of one format with the same question and
options (yes/no: the same question, which holds the candidate) are one group, in one fold. A text-only
model sees no clip; the unit it could memorise is the text. The items come in design groups that share
their text with another answer each (mc4: four clips, the same question and options, each option right
once; yes/no: a pair, true for one clip and false for the other), so folds grouped by clip would put one
member of a group in the scored fold and its mates in the fitted fold, and a model that memorised the
text would score below chance ("anti-learning"). Grouped by text, any function of the text scores
exactly chance on a design group, and a real cue, shared across texts, still reaches every fold.

A tie between the options a baseline picks from earns the expected credit of breaking it at random
(1/k for a k-way tie), so no baseline depends on option order. Accuracy comes with a 95% bootstrap CI
resampling clips (shard.evaluation.stats.bootstrap_ci) and the chance level.
"""
from __future__ import annotations

import math

import numpy as np
import polars as pl
from scipy import sparse
from scipy.optimize import minimize

from shard.dataset import surface
from shard.prompts import templates
from shard.common import rng, seed_for
from shard.evaluation.stats import bootstrap_ci

FOLDS = 5  # group k-fold by item text for every learned baseline
L2 = 1e-2  # ridge penalty per item on the (standardised) logistic regression weights
BOOSTING_ITERATIONS = 100
FEATURES = ("zipf", "chars", "words", "similarity")
CV = f"{FOLDS}-fold CV by question"
BASELINES = {  # name -> (display name, formats it applies to)
    "always_yes": ("Always yes", ("yesno",)),
    "most_frequent": ("Most frequent word (wordfreq)", ("yesno", "mc4")),
    "longest": ("Longest word", ("yesno", "mc4")),
    "most_similar": ("Most similar to the question (MiniLM)", ("mc4",)),
    "nearest_centroid": ("Option nearest the options' centroid (standardised features)", ("mc4",)),
    "farthest_centroid": ("Option farthest from the options' centroid (standardised features)", ("mc4",)),
    "logistic": (f"Logistic regression on {', '.join(FEATURES)} ({CV})", ("yesno", "mc4")),
    "boosting": (f"Gradient boosting on centred features and squares ({CV})", ("yesno", "mc4")),
    "bag_of_words": (f"Bag of words: option and question words ({CV})", ("yesno", "mc4")),
}
CHANCE = {"yesno": 0.5, "mc4": 0.25}
FORMAT_TITLES = {"yesno": "yes/no", "mc4": "mc4"}
NOT_SCORED = "n/a"  # a baseline the items are too few to score (the notes say why)
TITLE = "Surface-cue baselines on the SHARD test items (text only)"


# ---------------------------------------------------------------- word features
def _format(items: pl.DataFrame) -> str:
    (fmt,) = items["format"].unique().to_list()  # every function here takes the items of one format
    return fmt


def _item_words(items: pl.DataFrame) -> list[list[str]]:
    """Per item, the words offered: the options (mc4) or the candidate (yes/no)."""
    if _format(items) == "mc4":
        return items["options"].to_list()
    return [[c] for c in items["candidate"].to_list()]


def option_features(items: pl.DataFrame, embed) -> np.ndarray:
    """(n_items, n_words, FEATURES) for the items of one format: the features of each option (mc4) or
    of the candidate (yes/no)."""
    if not items.height:
        return np.zeros((0, 0, len(FEATURES)))
    words = _item_words(items)
    vocab = sorted({w for ws in words for w in ws})
    sim = surface.similarity(vocab, items["template_id"].unique().to_list(), embed)
    plain = {w: (surface.zipf(w), len(w), surface.n_words(w)) for w in vocab}
    return np.array([[(*plain[w], sim[(w, t)]) for w in ws] for ws, t in zip(words, items["template_id"].to_list())],
                    dtype=float)


def _standardised(x: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    """`x` less the mean of `fitted`'s rows (over items and options), over their SD (1 where constant)."""
    flat = fitted.reshape(-1, x.shape[-1])
    sd = flat.std(axis=0)
    return (x - flat.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def _options_mean(x: np.ndarray) -> np.ndarray:
    """Per item, the mean over its options (axis 1), summed in sorted order so that, to the last bit,
    it does not depend on the options' order."""
    return np.sort(x, axis=1).mean(axis=1, keepdims=True)


# ---------------------------------------------------------------- the rule-based baselines
def _argmax_credit(scores: np.ndarray, answer: np.ndarray) -> np.ndarray:
    """Per item (a row of `scores`), the credit of picking the largest score, ties broken at random:
    1/k if the answer (a column) is among k maxima."""
    top = scores == scores.max(axis=1, keepdims=True)
    return top[np.arange(len(answer)), answer] / top.sum(axis=1)


def _median_credit(values: np.ndarray, relation: np.ndarray, yes: np.ndarray) -> np.ndarray:
    """Yes/no: say yes iff the candidate's value exceeds the median candidate of its relation (half
    credit at the median, where the rule cannot decide)."""
    credit = np.zeros(values.size)
    for rel in np.unique(relation):
        at = relation == rel
        med = np.median(values[at])
        credit[at] = np.where(values[at] == med, 0.5, (values[at] > med) == yes[at])
    return credit


def centroid_distance(features: np.ndarray) -> np.ndarray:
    """(n_items, n_options): each option's Euclidean distance to its item's options' mean, on features
    standardised over every option of the items."""
    z = _standardised(features, features)
    return np.linalg.norm(z - _options_mean(z), axis=2)


def rule_baseline(name: str, fmt: str, items: pl.DataFrame, features: np.ndarray) -> np.ndarray:
    """Per-item credit (0..1) of one rule-based baseline on items of one format."""
    column = {"most_frequent": 0, "longest": 1, "most_similar": 3}.get(name)
    if fmt == "yesno":
        yes = (items["answer"] == templates.YES).to_numpy()
        if name == "always_yes":
            return yes.astype(float)
        return _median_credit(features[:, 0, column], items["relation"].to_numpy(), yes)
    answers = items["answer_index"].to_numpy()
    if name in ("nearest_centroid", "farthest_centroid"):
        distance = centroid_distance(features)
        return _argmax_credit(-distance if name == "nearest_centroid" else distance, answers)
    return _argmax_credit(features[:, :, column], answers)


# ---------------------------------------------------------------- cross-validation grouped by text
TEXT_COLUMNS = ["format", "question", "options"]  # what makes an item's text (its group) the same as another's


def _text_key(items: pl.DataFrame) -> pl.Series:
    return items.select(pl.concat_str([pl.col("format"), pl.col("question"), pl.col("options").list.join("\x1f")],
                                      separator="\x1e")).to_series()


def text_groups(items: pl.DataFrame) -> np.ndarray:
    """Per item, its text group (0..): items with the same format, question and options are one."""
    return np.unique(_text_key(items).to_numpy(), return_inverse=True)[1]


def audit_sample(test, max_items: int | None, seed: int, batch: int = 65_536) -> tuple[pl.DataFrame, int]:
    """(the test items the audit scores, how many test items there are): all of them, or, where there are more
    than `max_items`, whole text groups (text_groups), those of smallest seeded hash, up to `max_items` items.
    A design group shares its text, so every sampled group stays counterbalanced. Read in batches of `batch`
    rows: memory is the sample plus 8 bytes per test item, however large the test set (millions of items at
    AudioSet's size, where one read of every question and option would take gigabytes)."""
    import hashlib

    import pyarrow.parquet as pq

    source = pq.ParquetFile(test)
    total = source.metadata.num_rows
    if max_items is None or total <= max_items:
        return pl.read_parquet(test), total
    salt = f"{seed}\x1d".encode()
    hashes = np.concatenate([  # per item, its text group's seeded 64-bit hash, in file order
        np.fromiter((int.from_bytes(hashlib.blake2b(salt + key.encode(), digest_size=8).digest(), "little") >> 1
                     for key in _text_key(pl.from_arrow(b))), dtype=np.int64, count=b.num_rows)
        for b in source.iter_batches(batch_size=batch, columns=TEXT_COLUMNS)])
    group, sizes = np.unique(hashes, return_counts=True)  # ascending hash: a seeded order of the groups
    kept = group[np.cumsum(sizes) <= max_items]
    parts, start = [], 0
    for b in source.iter_batches(batch_size=batch):
        parts.append(pl.from_arrow(b).filter(pl.Series(np.isin(hashes[start:start + b.num_rows], kept))))
        start += b.num_rows
    return pl.concat(parts), total


def group_folds(groups: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold (0..k-1) of each item: every item of a group lies in one fold, and the folds hold groups
    in equal numbers (within one), dealt round-robin in a seeded order."""
    unique, inverse = np.unique(np.asarray(groups), return_inverse=True)
    fold_of_group = np.empty(unique.size, dtype=int)
    fold_of_group[rng(seed, "artifacts", "folds").permutation(unique.size)] = np.arange(unique.size) % k
    return fold_of_group[inverse]


def too_few_groups(items: pl.DataFrame) -> str | None:
    """Why the learned baselines cannot be cross-validated on `items` (of one format), or None: each of
    the FOLDS folds needs a text of its own."""
    n = int(np.unique(text_groups(items)).size)
    if n >= FOLDS:
        return None
    return (f"too few distinct item texts for {FOLDS} folds ({n} text{'' if n == 1 else 's'}, question and options, "
            "among the test items of this format); a corpus with more labels or more test clips "
            "(e.g. a larger clips.test_fraction) gives more")


def _relation_codes(items: pl.DataFrame) -> np.ndarray:
    return np.unique(items["relation"].to_numpy(), return_inverse=True)[1]


def _binary_scores(model, X, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """`model` fitted on the `train` rows of X (target y, bool), its decision values on the `test` rows
    (>0: true); a fitted fold with one class only gives that class everywhere."""
    if np.unique(y[train]).size < 2:
        return np.full(int(test.sum()), 1.0 if y[train][0] else -1.0)
    return model.fit(X[train], y[train]).decision_function(X[test])


# logistic regression (a conditional logit over each item's options)
def _design(features: np.ndarray, fmt: str, relation: np.ndarray, n_relations: int, fitted: np.ndarray) -> np.ndarray:
    """(n_items, n_choices, n_relations * (FEATURES + 1)): each option's standardised features in the
    block of its item's relation (each relation its own weights). Yes/no items are a choice between the
    candidate (features and a per-relation intercept) and "no" (all zeros): a binary logistic regression."""
    n, n_words, n_features = features.shape
    block = n_features + 1
    X = np.zeros((n, n_words + (fmt == "yesno"), n_relations * block))
    columns = relation[:, None] * block + np.arange(n_features)  # (n, features)
    X[np.arange(n)[:, None, None], np.arange(n_words)[None, :, None], columns[:, None, :]] = _standardised(features, fitted)
    if fmt == "yesno":
        X[np.arange(n), 0, relation * block + n_features] = 1.0
    return X


def _fit(X: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Weights of a conditional logit (softmax over each item's options), L2-penalised, by L-BFGS."""
    n = X.shape[0]

    def loss(w):
        s = X @ w
        s -= s.max(axis=1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=1, keepdims=True)
        nll = -np.log(p[np.arange(n), target]).sum() + L2 * n * (w @ w) / 2
        p[np.arange(n), target] -= 1.0
        return nll, np.einsum("io,iod->d", p, X) + L2 * n * w

    return minimize(loss, np.zeros(X.shape[2]), jac=True, method="L-BFGS-B").x


def logistic_scores(fmt, items, features, target, train, test, seed) -> np.ndarray:
    """Per test item, the conditional logit's score of each choice (standardised on the fitted fold)."""
    relation = _relation_codes(items)
    X = _design(features, fmt, relation, int(relation.max()) + 1, features[train])
    return X[test] @ _fit(X[train], target[train])


def boosting_scores(fmt, items, features, target, train, test, seed) -> np.ndarray:
    """Per test item, gradient boosting's score of each choice. mc4: a row per option, [f, f less the
    item's options' mean, that squared] and the relation, target "is the right option"; yes/no: the
    candidate's [f, f squared] and the relation, target "yes"."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    n, n_words, _ = features.shape
    if fmt == "mc4":
        centred = features - _options_mean(features)
        x = np.concatenate([features, centred, centred ** 2], axis=2)
    else:
        x = np.concatenate([features, features ** 2], axis=2)
    relation = np.repeat(_relation_codes(items), n_words)
    X = np.column_stack([x.reshape(n * n_words, -1), relation])
    model = HistGradientBoostingClassifier(max_iter=BOOSTING_ITERATIONS, early_stopping=False,
                                           categorical_features=[X.shape[1] - 1],
                                           random_state=seed_for(seed, "artifacts", "boosting") % 2 ** 31)
    # one OpenMP thread, as the rule has one core: every core's threads, on a machine the workflow's other
    # jobs share, took 2.5x as long (33,000 items on 2 cores: 16 s against 6 s for the whole table)
    with threadpool_limits(1, user_api="openmp"):
        return _choice_scores(fmt, model, X, target, n_words, train, test)


def bag_of_words_scores(fmt, items, features, target, train, test, seed) -> np.ndarray:
    """Per test item, a logistic regression's score of each choice on one-hot words. mc4: a row per
    option, the option word and the relation, target "is the right option"; yes/no: the candidate word,
    the question template and the relation, target "yes"."""
    from sklearn.linear_model import LogisticRegression

    words = np.array(_item_words(items), dtype=object)  # (n, n_words)
    n, n_words = words.shape
    per_row = [words.reshape(-1), np.repeat(items["relation"].to_numpy(), n_words)]
    if fmt == "yesno":
        per_row.append(items["template_id"].to_numpy())
    X = sparse.hstack([_one_hot(column) for column in per_row], format="csr")
    return _choice_scores(fmt, LogisticRegression(max_iter=1000), X, target, n_words, train, test)


def _one_hot(values: np.ndarray) -> sparse.csr_matrix:
    codes = np.unique(values.astype(str), return_inverse=True)[1]
    return sparse.csr_matrix((np.ones(codes.size), (np.arange(codes.size), codes)), shape=(codes.size, codes.max() + 1))


def _choice_scores(fmt, model, X, target, n_words, train, test) -> np.ndarray:
    """Fit a binary `model` on rows of X (a row per option for mc4, per item for yes/no) and give each
    test item's choices their scores: mc4, each option's decision value; yes/no, (the candidate's
    decision value, 0), so "yes" wins iff the model says yes and a tie (0) earns half."""
    if fmt == "mc4":
        right = (np.arange(n_words) == target[:, None]).reshape(-1)
        scores = _binary_scores(model, X, right, np.repeat(train, n_words), np.repeat(test, n_words))
        return scores.reshape(-1, n_words)
    scores = _binary_scores(model, X, target == 0, train, test)
    return np.column_stack([scores, np.zeros_like(scores)])


LEARNED = {"logistic": logistic_scores, "boosting": boosting_scores, "bag_of_words": bag_of_words_scores}


def learned_baseline(name: str, fmt: str, items: pl.DataFrame, features: np.ndarray, seed: int) -> np.ndarray:
    """Per-item credit of a learned baseline, each item scored by the model fitted on the folds that do not
    hold its text. The right choice: the answer's option (mc4), or 0 for yes and 1 for no (yes/no)."""
    if not items.height:
        return np.zeros(0)
    if (why := too_few_groups(items)) is not None:
        raise ValueError(why)
    target = (items["answer"] != templates.YES).to_numpy().astype(int) if fmt == "yesno" else items["answer_index"].to_numpy()
    folds = group_folds(text_groups(items), FOLDS, seed)
    credit = np.zeros(items.height)
    for k in range(FOLDS):
        test = folds == k
        credit[test] = _argmax_credit(LEARNED[name](fmt, items, features, target, ~test, test, seed), target[test])
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
        too_few = too_few_groups(part)
        for name, (_, formats) in BASELINES.items():
            if fmt not in formats:
                continue
            row = {"baseline": name, "format": fmt, "chance": CHANCE[fmt]}
            why_not = too_few if name in LEARNED else None
            if why_not is not None:  # a row of n/a that says why, not a failed run
                for rel in [*relations, "overall"]:
                    at = part.height if rel == "overall" else int((part["relation"] == rel).sum())
                    row.update({f"{rel}_acc": math.nan, f"{rel}_lo": math.nan, f"{rel}_hi": math.nan, f"{rel}_n": at})
                rows.append({**row, "chance_in_ci": None, "not_scored": why_not})
                continue
            credit = (learned_baseline(name, fmt, part, features, seed) if name in LEARNED
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
        return list(NOTES)
    skipped = numeric.filter(pl.col("not_scored").is_not_null()).iter_rows(named=True)
    return NOTES + [f"{BASELINES[r['baseline']][0]}, {FORMAT_TITLES[r['format']]}: {NOT_SCORED}, {r['not_scored']}."
                    for r in skipped]


NOTES = ["Accuracy in % with 95% bootstrap CI (clips resampled); text only (question and options, no audio, "
         "no label). Ties count 1/k of a point.",
         "Yes/no frequency and length rules: yes iff the candidate exceeds the median candidate of its relation. "
         "Centroid: the options' mean over Zipf frequency, characters, words and MiniLM similarity, each "
         "standardised over all options.",
         f"Learned models are cross-validated in {FOLDS} folds grouped by question: items with the same question "
         "and options share a fold, so no model is scored on a text it was fitted on. Gradient boosting: each "
         "option's features, less the options' mean, and squared (yes/no: the candidate's features and their "
         "squares), with the relation. Bag of words: the option word and the relation (yes/no: the candidate "
         "word, the question template and the relation).",
         "Chance in CI: chance lies inside the CI of every relation and overall."]


def artifacts_table(*, test, csv, md, provenance, config: dict, wordnet_source) -> None:
    """tables/artifacts.{csv,md}: the surface-cue baselines on the test items (a sample of whole text groups
    where there are more than shard.audit_items)."""
    from shard.reporting.provenance import write_provenance
    from shard.reporting.render import write_table

    items, total = audit_sample(test, config["shard"]["audit_items"], config["seed"])
    numeric = artifact_stats(items, surface.exact_embedder(), config["evaluate"]["bootstrap"], config["seed"])
    notes = artifact_notes(numeric)
    if items.height < total:
        notes.append(f"Scored on a seeded sample of {items.height:,} of the {total:,} test items, in whole text groups "
                     "(shard.audit_items).")
    write_table(numeric, artifact_display(numeric), csv=csv, md=md, title=TITLE, notes=notes)
    write_provenance(provenance, config=config, inputs=[test], wordnet_source=wordnet_source, summaries=[])
