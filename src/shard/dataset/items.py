"""SHARD items: clip x relation x question format, with balanced answers and verified negatives.

A yes/no item asks whether a word stands in a relation to what is sounding; an mc4 item offers one
right word and three distractors. Only words people know are asked about or offered (shard.dataset.vocabulary);
negatives come from the word bank's closed vocabulary, checked against WordNet and matched to the right
word on every surface cue (shard.dataset.wordbank). Every word is offered wrong as often as right.

The rule also writes what the dataset card reports of its choices (summary.json: the clips it kept,
the words the Zipf threshold left out, each label left without items of a relation and why), so the
card (rule `shard_card`, shard.dataset.card) reads them rather than making them again.
"""
from __future__ import annotations

import logging

import numpy as np
import polars as pl

from shard.dataset import surface
from shard.prompts import templates
from shard.common import ShardError, rng, write_json, write_parquet
from shard.dataset.relations import RELATIONS, ROLES
from shard.dataset.senses import role_of
from shard.dataset.vocabulary import threshold_summary, usable_relations
from shard.dataset.word_facts import build_words
from shard.dataset.wordbank import FEATURES, MIN_NEGATIVES, RANKED, WordBank
from shard.dataset.wordnet import check_wordnet, reader

log = logging.getLogger("shard")

ITEM_SCHEMA = {"item_id": pl.String, "clip_id": pl.String, "label": pl.String, "synset": pl.String,
               "relation": pl.String, "format": pl.String, "template_id": pl.String,
               "question": pl.String, "options": pl.List(pl.String), "answer": pl.String,
               "answer_index": pl.Int64, "candidate": pl.String, "source_kind": pl.String}  # source_kind: the role
MISSING_SCHEMA = {"relation": pl.String, "label": pl.String, "synset": pl.String, "reason": pl.String}
MC_OPTIONS = 4


# ---------------------------------------------------------------- items
def _yes_answers(slots: list[tuple[str, int]], n_per_clip: int, seed: int, split: str, relation: str) -> dict:
    """slot -> True (yes) / False (no): half of each clip's items, the odd ones alternating over a
    seeded order, so every relation is balanced to within one item and every clip within one."""
    answer, leftover = {}, []
    for clip_id in dict.fromkeys(c for c, _ in slots):
        order = rng(seed, "items", split, relation, "yesno", clip_id).permutation(n_per_clip)
        for i, k in enumerate(order[: n_per_clip - n_per_clip % 2]):
            answer[(clip_id, int(k))] = i % 2 == 0
        if n_per_clip % 2:
            leftover.append((clip_id, int(order[-1])))
    for j, i in enumerate(rng(seed, "items", split, relation, "yesno", "leftover").permutation(len(leftover))):
        answer[leftover[i]] = j % 2 == 0
    return answer


def _balanced(n: int, k: int, seed: int, *key) -> list[int]:
    """n values in 0..k-1, each equally often (within one), in a seeded order."""
    base = [i % k for i in range(n)]
    return [base[i] for i in rng(seed, *key).permutation(n)]


def _right_words(eligible: list, slots: list, yes: dict, bank: WordBank, mapping: dict, relation: str, n: int,
                 wrong: int, g) -> dict:
    """slot -> the positive word it asks about (or, for a "no", matches its negative to). Slots are taken in
    a seeded order; each picks, among its synset's positives not yet used by its clip, the one with the
    most room left to be offered wrong: (its wrong uses owed so far + `wrong`) / (the negative slots of
    the clips it is unrelated to), so no word is right far more often than it can be wrong."""
    by_clip = {c: (mapping[label]["synset"], synsets, role) for c, label, synsets, role in eligible}
    room: dict[str, float] = {}
    shown = n if wrong > 1 else n / 2  # a clip's slots that show negatives: every mc4 item, half the yes/no ones
    for _, synsets, role in by_clip.values():
        for w in bank.negatives(synsets, relation, role):
            room[w] = room.get(w, 0) + shown
    owed: dict[str, int] = {}
    out, taken = {}, {}
    for i in g.permutation(len(slots)):
        clip_id, k = slots[i]
        positives = bank.positives[(by_clip[clip_id][0], relation)]
        words = [w for w in positives if w not in taken.get(clip_id, ())] or positives
        load = np.array([(owed.get(w, 0) + wrong) / room[w] if room.get(w) else np.inf for w in words])
        load = np.where(np.isinf(load), 1e9, load) + 1e-6 * g.random(len(words))
        word = words[int(np.argmin(load))]
        out[(clip_id, k)] = word
        taken.setdefault(clip_id, set()).add(word)
        if wrong > 1 or yes.get((clip_id, k)):
            owed[word] = owed.get(word, 0) + wrong
    return out


def make_items(clips: pl.DataFrame, bank: WordBank, mapping: dict, shard: dict, seed: int, split: str):
    """Items for one split, and the (label, synset, word, relation) negatives they used.

    The right words come first (each clip's positives, cycled); then the negatives are chosen slot by
    slot in a seeded order (bank.matched), so that over the split, relation and format every word is a
    "no" as often as a "yes", and a distractor three times as often as the answer, where the unrelated
    words of each clip allow; and so that neither frequency, length nor similarity to the question
    tells the answer: a "no" candidate is matched to the positive its slot would have asked about, mc4
    distractors to the answer, with the answer's rank among the options on each feature spread evenly."""
    n = shard["items_per_clip"]
    rows, used = [], []
    for relation in shard["relations"]:
        eligible = []  # (clip_id, label, synsets, role) that have a positive and enough negatives
        for clip_id, label, labels in clips.select("clip_id", "label", "labels").iter_rows():
            synset = mapping[label]["synset"]
            synsets = tuple(sorted({mapping[l]["synset"] for l in labels if mapping.get(l, {}).get("synset")} | {synset}))
            role = role_of(mapping[label]["lexname"])
            if (role in RELATIONS[relation].roles and bank.positives.get((synset, relation))
                    and len(bank.negatives(synsets, relation, role)) >= MC_OPTIONS - 1):
                eligible.append((clip_id, label, synsets, role))
        for fmt in shard["formats"]:
            if fmt == "mc4":  # three distractors need a pool of the clip's role that names enough synsets to vary
                eligible = [e for e in eligible
                            if bank.senses([w for w in bank.negatives(e[2], relation, e[3]) if e[3] in bank.roles[w]]) >= MIN_NEGATIVES]
            slots = [(c, k) for c, _, _, _ in eligible for k in range(n)]
            yes = _yes_answers(slots, n, seed, split, relation) if fmt == "yesno" else {}
            wrong = 1 if fmt == "yesno" else MC_OPTIONS - 1  # negatives per item
            right = _right_words(eligible, slots, yes, bank, mapping, relation, n, wrong, rng(seed, "items", split, relation, fmt, "positives"))
            plan = {}  # slot -> (label, synset, synsets, role, template, right word)
            for clip_id, label, synsets, role in eligible:
                g = rng(seed, "items", split, relation, fmt, clip_id)
                choices = templates.semantic_templates(relation, role, fmt)
                for k in range(n):
                    plan[(clip_id, k)] = (label, mapping[label]["synset"], synsets, role, choices[int(g.integers(len(choices)))], right[(clip_id, k)])
            need: dict[str, int] = {}  # word -> wrong uses still owed
            for slot, (*_, word) in plan.items():
                if fmt == "mc4" or yes[slot]:
                    need[word] = need.get(word, 0) + wrong
            negs, ranks, drift = {}, np.zeros((len(RANKED), wrong + 1)), np.zeros(len(FEATURES))
            if fmt == "yesno":  # the yes candidates less the positives the no slots are matched to
                for slot, (*_, template, word) in plan.items():
                    drift += bank.features(word, template.id) * (1 if yes[slot] else -1)
            targeted = [s for s in slots if not yes.get(s, False)]  # the slots that show negatives
            g = rng(seed, "items", split, relation, fmt, "negatives")
            for i in g.permutation(len(targeted)):
                slot = targeted[i]
                _, _, synsets, role, template, word = plan[slot]
                negs[slot] = bank.matched(bank.negatives(synsets, relation, role), word, template.id, wrong, need, ranks, drift, g)
            positions = iter(_balanced(len(slots), MC_OPTIONS, seed, "items", split, relation, "mc4", "positions")) if fmt == "mc4" else None
            for slot in slots:
                (clip_id, k), (label, synset, _, role, template, word) = slot, plan[slot]
                if fmt == "yesno":
                    candidate = word if yes[slot] else negs[slot][0]
                    options, answer = [templates.YES, templates.NO], templates.YES if yes[slot] else templates.NO
                else:
                    options = list(negs[slot])
                    options.insert(next(positions), word)
                    candidate, answer = word, word
                used += [(label, synset, w, relation) for w in negs.get(slot, [])]
                rows.append({"item_id": f"{clip_id}.{relation}.{fmt}.{k}", "clip_id": clip_id,
                             "label": label, "synset": synset, "relation": relation, "format": fmt,
                             "template_id": template.id, "question": template.text,
                             "options": options, "answer": answer, "answer_index": options.index(answer),
                             "candidate": candidate, "source_kind": role})
    items = pl.DataFrame(rows, schema=ITEM_SCHEMA).sort("item_id")
    mc = pl.when(pl.col("format") == "mc4").then(pl.col("options"))
    return items.with_columns(question=templates.render(pl.col("question"), mc, word=pl.col("candidate"))), used


# ---------------------------------------------------------------- the rule
def _assign_synsets(clips: pl.DataFrame, seed: int) -> dict:
    """synset -> "test" | "train": a seeded split of synsets in the clips' test:train proportion."""
    synsets = sorted(clips["synset"].unique().to_list())
    test_share = (clips["split"] == "test").mean()
    n_test = min(max(round(len(synsets) * test_share), 1), len(synsets) - 1) if len(synsets) > 1 else len(synsets)
    order = rng(seed, "items", "synset_disjoint").permutation(len(synsets))
    return {synsets[i]: "test" if j < n_test else "train" for j, i in enumerate(order)}


def select_clips(clips_parquet, label_synsets, shard: dict, seed: int) -> tuple[pl.DataFrame, dict, pl.DataFrame, dict]:
    """(label_synsets table, label -> its row, the clips items are made from, stats for the card):
    clips with a mapped label, on their synset's side when train pool and test are synset-disjoint."""
    table = pl.read_parquet(label_synsets)
    mapping = {r["label"]: r for r in table.iter_rows(named=True)}
    clips = pl.read_parquet(clips_parquet, columns=["clip_id", "label", "labels", "split"]).sort("clip_id")
    unknown = sorted(set(clips["label"]) - set(mapping))
    if unknown:
        raise ShardError(f"{label_synsets} has no row for labels {unknown[:5]} of {clips_parquet}; rerun the wordnet rule")
    clips = clips.with_columns(synset=pl.col("label").replace_strict({k: v["synset"] for k, v in mapping.items()}))
    stats = {"clips": clips.height, "unmapped_clips": clips.filter(pl.col("synset").is_null()).group_by("label").len().sort("label").rows()}
    clips = clips.filter(pl.col("synset").is_not_null())
    stats["synset_side"] = {}
    if shard["synset_disjoint"]:
        side = _assign_synsets(clips, seed)
        keep = clips.filter(pl.col("split") == pl.col("synset").replace_strict(side))
        stats["synset_side"] = side
        stats["dropped_disjoint"] = clips.height - keep.height
        clips = keep
    return table, mapping, clips, stats


def labels_without_items(items: pl.DataFrame, label_synsets: pl.DataFrame, clips: pl.DataFrame, kept: pl.DataFrame,
                         relations: list[str]) -> pl.DataFrame:
    """(relation, label, synset, reason): each mapped label with no item of a configured relation, and why,
    by make_items' own tests in turn: no clip of it left to ask about, a relation not asked of its role (a
    sound has no parts), no WordNet row (Relation.no_rows), too few unrelated words to offer as negatives."""
    have = set(items.select("relation", "label").unique().iter_rows())
    asked = set(clips["label"])
    has_rows = set(kept.select("synset", "relation").unique().iter_rows())
    rows = []
    for relation in relations:
        roles = RELATIONS[relation].roles
        for label, synset, lexname in (label_synsets.filter(pl.col("synset").is_not_null())
                                       .select("label", "synset", "lexname").sort("label").iter_rows()):
            if (relation, label) in have:
                continue
            role = role_of(lexname)
            if label not in asked:
                reason = "no clip left with it as its label (a secondary label only, or on the other side of the synset-disjoint split)"
            elif role not in roles:
                reason = f"{role}-role label: {relation} is asked of {' and '.join(sorted(roles))} labels only"
            elif (synset, relation) not in has_rows:
                reason = RELATIONS[relation].no_rows
            else:
                reason = f"fewer than {MC_OPTIONS - 1} unrelated {relation} words of WordNet to offer as negatives"
            rows.append({"relation": relation, "label": label, "synset": synset, "reason": reason})
    return pl.DataFrame(rows, schema=MISSING_SCHEMA)


def build_items(*, clips_parquet, label_synsets, relations, wordnet_source, test, train_pool, words, summary,
                shard: dict, seed: int) -> None:
    """Rule `shard_items`: test.parquet, train_pool.parquet, words.parquet and summary.json (the card is rule
    `shard_card`)."""
    check_wordnet(wordnet_source)
    wn = reader()
    table, mapping, clips, stats = select_clips(clips_parquet, label_synsets, shard, seed)
    kept, removed = usable_relations(wn, relations, shard)
    bank = WordBank(wn, kept)
    ids = [t.id for rel in shard["relations"] for role in ROLES for fmt in shard["formats"]
           for t in templates.semantic_templates(rel, role, fmt)]
    bank.similarity = surface.similarity(bank.zipf, ids, surface.exact_embedder())
    parts = {}
    used = []
    for split in ("test", "train"):
        parts[split], u = make_items(clips.filter(pl.col("split") == split), bank, mapping, shard, seed, split)
        used += u
    for relation in shard["relations"]:
        if not any((parts[split]["relation"] == relation).any() for split in parts):
            log.warning("shard.relations lists %s, but no label has an item of it; the card "
                        "(section 'Labels without items, per relation') says why for each label", relation)
    facts = build_words(bank, mapping, used, shard["relations"], seed)
    missing = labels_without_items(pl.concat([parts["test"], parts["train"]]), table, clips, kept, shard["relations"])
    write_parquet(parts["test"], test)
    write_parquet(parts["train"], train_pool)
    write_parquet(facts, words)
    write_json({"clips": stats, "words": threshold_summary(kept, removed, shard["min_zipf"]),
                "labels_without_items": missing.to_dicts()}, summary)
    log.info("SHARD: %d test items, %d pool items, %d word facts; %d relation words rarer than Zipf %s left out",
             parts["test"].height, parts["train"].height, facts.height, removed.height, shard["min_zipf"])
