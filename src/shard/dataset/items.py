"""SHARD items: clip x relation x question format, with balanced answers and verified negatives.

A yes/no item asks whether a word stands in a relation to what is sounding; an mc4 item offers one
right word and three distractors. Only words people know are asked about or offered (shard.dataset.vocabulary).
Items come in counterbalanced groups that share their text (_stratum_items): the same question about the
same word is asked of a clip it is true for and of one it is false for (checked against WordNet,
shard.dataset.wordbank), and the same four options are offered to four clips, each right for one of them.
So the text alone answers no item better than chance, on any label set: which word, its frequency, its
length, its place among the options or its likeness to the question are each right exactly as often as
chance, by construction rather than by matching (tables/artifacts checks it). The labels of the negative
control (unknown_synsets: those mini_ltu is taught no fact about) are grouped apart from the others, so that
the same holds on each side: a word prior learnt from the known labels' facts cannot move either side's score.

The rule also writes what the dataset card reports of its choices (summary.json: the clips it kept,
the words the Zipf threshold left out, each label left without items of a relation and why), so the
card (rule `shard_card`, shard.dataset.card) reads them rather than making them again.
"""
from __future__ import annotations

import logging
from typing import Callable, Iterator

import numpy as np
import polars as pl
from tqdm import tqdm

from shard.prompts import templates
from shard.common import ShardError, rng, sorted_parquet, write_json, write_parquet
from shard.dataset.relations import RELATIONS
from shard.dataset.senses import role_of
from shard.dataset.vocabulary import threshold_summary, usable_relations
from shard.dataset.word_facts import build_words
from shard.dataset.wordbank import WordBank
from shard.dataset.wordnet import check_wordnet, reader

log = logging.getLogger("shard")

ITEM_SCHEMA = {"item_id": pl.String, "clip_id": pl.String, "label": pl.String, "synset": pl.String,
               "relation": pl.String, "format": pl.String, "template_id": pl.String,
               "question": pl.String, "options": pl.List(pl.String), "answer": pl.String,
               "answer_index": pl.Int64, "candidate": pl.String, "source_kind": pl.String}  # source_kind: the role
MISSING_SCHEMA = {"relation": pl.String, "label": pl.String, "synset": pl.String, "reason": pl.String}
# summary.json's slots_left: per split, relation and format, the items made and the slots no group took
SLOTS_SCHEMA = {"split": pl.String, "relation": pl.String, "format": pl.String, "items": pl.Int64, "slots_left": pl.Int64}
MC_OPTIONS = 4
MIN_SIDE = MC_OPTIONS  # labels each side of the unknown-label split needs (unknown_synsets)
BLOCK = 256  # clips whose slots are grouped together (a fixed size, so the items do not depend on any layout key)
TRIES = 20  # draws of a group's template and option order, so that no clip is asked the same text twice
VARIANTS = 4  # the words a slot may ask: its own, then the next ones of its synset, where no group takes its own
RANGE_ITEMS = 100_000  # at most this many items of a split are sorted at once on the way to its parquet


# ---------------------------------------------------------------- items
def _groups(compat: np.ndarray, owner: np.ndarray, asked: np.ndarray, size: int, starters: np.ndarray, g) -> list[list[int]]:
    """Disjoint groups of `size` slots, as lists of nodes: a node is a slot with one word it may ask
    (`owner`: the node's slot; its variants in order of preference). A group is a starter node, then
    partner nodes of other slots, each allowed by every member so far (compat[i, j]: node j may join a
    group that holds node i). Slots are taken most constrained first (the fewest free partners of their best
    node; seeded ties), each by its most preferred free node, so that few slots are left over. A starter node
    that cannot complete a group is dropped, and its slot tries its next word. Once a group asks a clip about
    a word (`asked`: the clip and word of a node), the clip's other slots drop that word where they have
    another left, so a clip is not asked the same question twice."""
    linked = compat | compat.T
    free = np.ones(len(compat), dtype=bool)
    degree = linked.sum(1) + g.random(len(compat))  # the noise, below 1, breaks ties only
    n_slots = int(owner.max()) + 1
    groups = []

    def pick(nodes):  # the most constrained slot among the nodes', by its first node among them
        best = np.full(n_slots, np.inf)
        np.minimum.at(best, owner[nodes], -degree[nodes])  # a slot's best node: the most partners
        slot = owner[nodes][np.argmax(best[owner[nodes]])]
        return int(nodes[owner[nodes] == slot][0])

    while (open_ := np.flatnonzero(free & starters)).size:
        members = [pick(open_)]
        allowed = compat[members[0]] & free
        while len(members) < size and allowed.any():
            members.append(pick(np.flatnonzero(allowed)))
            allowed &= compat[members[-1]]
        if len(members) == size:
            taken = np.isin(owner, owner[members]) & free
            repeat = free & ~taken & np.isin(asked, asked[members])
            left = np.bincount(owner[free & ~taken], minlength=n_slots)
            taken |= repeat & (left[owner] > 1)
        else:
            taken = np.arange(len(free)) == members[0]
        free &= ~taken
        degree -= linked[:, taken].sum(1)
        if len(members) == size:
            groups.append(members)
    return groups


def _stratum_items(members: list[tuple], bank: WordBank, relation: str, role: str, fmt: str, n: int,
                   seed: int, split: str, unknown: bool) -> Iterator[tuple[pl.DataFrame, set[tuple], int]]:
    """Per block of clips: (items, the negatives they offer as (label, synset, word, relation), slots left
    over), for the clips of one split, relation, format and role, of the unknown labels or of the others;
    `members` holds (clip_id, label, synset, synsets) per clip. The items come unsorted.

    Every clip has n slots; slot k asks about its synset's k-th positive word (cycled), the most specific
    first, since they are false for the most other labels, or, where no group can take that word, one of
    the next VARIANTS - 1. Slots are grouped so that a text-only reader has nothing to go by: mc4, four
    slots of four clips, each slot's word false for every other clip of the group (WordBank.clashes) and
    no two words sharing a sense; the four items show the same question and the same four options in the
    same order, each answered by its own clip's word. Yes/no: a clip's "yes" slot and another clip's "no"
    slot for which that word is false; both are asked the same question about the same word. So every
    question text is right exactly once per group: each option, position, word and surface feature of it
    is the answer exactly as often as chance says. Groups are formed within blocks of BLOCK clips in a
    seeded order, so time and memory grow linearly with the corpus."""
    key = ("items", split, relation, fmt, role, *(["unknown"] if unknown else []))
    choices = templates.semantic_templates(relation, role, fmt)
    words = sorted({w for *_, synset, _ in members for w in bank.positives[(synset, relation)]})
    synsets = sorted({s for *_, ss in members for s in ss})
    word_at, synset_at = {w: i for i, w in enumerate(words)}, {s: i for i, s in enumerate(synsets)}
    clashes = bank.clashes(words, synsets, relation).astype(np.float32)  # word x synset: not false for it
    same = bank.same_senses(words)
    order = rng(seed, *key, "blocks").permutation(len(members))
    for b in tqdm(range(0, len(members), BLOCK), desc=" ".join(("items",) + key[1:]), unit="block",
                  mininterval=5, disable=len(members) <= BLOCK):  # a progress line in the rule's log at scale
        rows, asked, used = [], set(), set()  # asked: (clip, text) so far; a clip lies in one block
        block = [members[i] for i in order[b:b + BLOCK]]
        slots = [(c, k) for c in range(len(block)) for k in range(n)]
        yes = [fmt == "mc4" or (k + c) % 2 == 0 for c, k in slots]
        nodes = [(s, word_at[positives[(k + v) % len(positives)]])  # (slot, word): the words a slot may ask
                 for s, (c, k) in enumerate(slots) for positives in [bank.positives[(block[c][2], relation)]]
                 for v in range(min(VARIANTS, len(positives)) if yes[s] else 1)]
        owner, word = (np.array(x) for x in zip(*nodes))
        clip, asks = np.array([slots[s][0] for s in owner]), np.array([yes[s] for s in owner])
        has = np.zeros((len(block), len(synsets)), dtype=np.float32)
        for c, (*_, ss) in enumerate(block):
            has[c, [synset_at[s] for s in ss]] = 1.0
        false_for = (clashes[word] @ has[clip].T) == 0  # [i, j]: node i's word is false for node j's clip
        apart = clip[:, None] != clip[None, :]
        if fmt == "mc4":
            compat = false_for & false_for.T & ~same[np.ix_(word, word)] & apart
        else:
            compat = asks[:, None] & ~asks[None, :] & false_for & apart
        g = rng(seed, *key, b // BLOCK)
        groups = _groups(compat, owner, clip * len(words) + word, MC_OPTIONS if fmt == "mc4" else 2, asks, g)
        for group in groups:
            for _ in range(TRIES):  # a template and an option order no clip of the group was asked yet
                template = choices[int(g.integers(len(choices)))]
                shown = [words[word[i]] for i in group]  # mc4: the options; yes/no: the word both are asked about
                if fmt == "mc4":
                    shown = [shown[p] for p in g.permutation(MC_OPTIONS)]
                text = (template.id, *shown)
                if not any((block[clip[i]][0], text) in asked for i in group):
                    break
            asked |= {(block[clip[i]][0], text) for i in group}
            for i in group:
                (clip_id, label, synset, _), k = block[clip[i]], slots[owner[i]][1]
                if fmt == "mc4":
                    candidate = answer = words[word[i]]
                    options = shown
                else:
                    candidate, answer = shown[0], templates.YES if asks[i] else templates.NO
                    options = [templates.YES, templates.NO]
                negatives = [w for w in options if w != answer] if fmt == "mc4" else [] if asks[i] else [candidate]
                used |= {(label, synset, w, relation) for w in negatives}
                rows.append({"item_id": f"{clip_id}.{relation}.{fmt}.{k}", "clip_id": clip_id, "label": label,
                             "synset": synset, "relation": relation, "format": fmt, "template_id": template.id,
                             "question": template.text, "options": options, "answer": answer,
                             "answer_index": options.index(answer), "candidate": candidate, "source_kind": role})
        yield pl.DataFrame(rows, schema=ITEM_SCHEMA), used, len(slots) - sum(map(len, groups))


def make_items(clips: pl.DataFrame, bank: WordBank, mapping: dict, shard: dict, seed: int, split: str,
               add: Callable[[pl.DataFrame], None], unknown: set[str] = frozenset()) -> tuple[set[tuple], list[dict], set[tuple]]:
    """Hands the items of one split to `add`, a block of clips at a time, unsorted; returns (the (label, synset,
    word, relation) negatives they offer, items made and slots left over per (relation, format), the
    (relation, label) pairs with items). Every clip whose label's role the relation is asked of and whose
    synset has a positive word gets up to shard.items_per_clip items per relation and format, in
    counterbalanced groups (_stratum_items) of clips of the same role and the same side of `unknown` (synsets)."""
    n = shard["items_per_clip"]
    mc = pl.when(pl.col("format") == "mc4").then(pl.col("options"))
    used, left, have = set(), [], set()
    for relation in shard["relations"]:
        by_role: dict[tuple, list[tuple]] = {}  # (role, unknown) -> (clip_id, label, synset, synsets)
        shared: dict[tuple, tuple] = {}  # one copy of each label's string and each synsets tuple, not one per clip
        for clip_id, label, labels in clips.select("clip_id", "label", "labels").iter_rows():
            label, synset = mapping[label]["label"], mapping[label]["synset"]
            synsets = tuple(sorted({mapping[l]["synset"] for l in labels if mapping.get(l, {}).get("synset")} | {synset}))
            synsets = shared.setdefault(synsets, synsets)
            role = role_of(mapping[label]["lexname"])
            if role in RELATIONS[relation].roles and bank.positives.get((synset, relation)):
                by_role.setdefault((role, synset in unknown), []).append((clip_id, label, synset, synsets))
        for fmt in shard["formats"]:
            made, slots_left = 0, 0
            for (role, part), members in sorted(by_role.items()):
                for items, u, lo in _stratum_items(members, bank, relation, role, fmt, n, seed, split, part):
                    add(items.with_columns(question=templates.render(pl.col("question"), mc, word=pl.col("candidate"))))
                    used |= u
                    have |= {(relation, label) for label in items["label"].unique()}
                    made, slots_left = made + items.height, slots_left + lo
            left.append(dict(zip(SLOTS_SCHEMA, (split, relation, fmt, made, slots_left))))
            log.info("items: %s %s %s: %d items, %d slots left without a group", split, relation, fmt, made, slots_left)
    return used, left, have


def item_ranges(clip_ids: pl.Series, shard: dict) -> list[str]:
    """The item_ids that start each range of at most RANGE_ITEMS items of these clips (sorted_parquet's cuts):
    a clip's items are the item_ids that start with "{clip_id}.", so one range holds whole clips, in item_id
    order."""
    per_clip = shard["items_per_clip"] * len(shard["relations"]) * len(shard["formats"])
    prefixes = (clip_ids + ".").sort()
    return prefixes.gather_every(max(RANGE_ITEMS // max(per_clip, 1), 1)).to_list()[1:]


# ---------------------------------------------------------------- the rule
def _assign_synsets(clips: pl.DataFrame, seed: int) -> dict:
    """synset -> "test" | "train": a seeded split of synsets in the clips' test:train proportion."""
    synsets = sorted(clips["synset"].unique().to_list())
    test_share = (clips["split"] == "test").mean()
    n_test = min(max(round(len(synsets) * test_share), 1), len(synsets) - 1) if len(synsets) > 1 else len(synsets)
    order = rng(seed, "items", "synset_disjoint").permutation(len(synsets))
    return {synsets[i]: "test" if j < n_test else "train" for j, i in enumerate(order)}


def unknown_synsets(synsets, fraction: float, seed: int) -> set[str]:
    """The negative control's synsets: a seeded share `fraction` (rounded) of the distinct `synsets` (the labels'),
    drawn by synset so that labels of one concept fall together; fixed by the benchmark's `seed`, whatever their
    order. Items group them apart (make_items); mini_ltu's pretraining teaches no fact about them, in any wording.
    None where that would leave either side with fewer labels than a 4-way group needs (a corpus of a few
    labels): a side that small forms few groups or none, and the split would empty the items instead."""
    synsets = sorted({s for s in synsets if s is not None})
    n = round(fraction * len(synsets))
    if 0 < n < len(synsets) and min(n, len(synsets) - n) < MIN_SIDE:
        log.warning("shard.unknown_label_fraction %s of %d labels leaves fewer than %d on a side: no label is left "
                    "unknown (the text oracle's negative control is off); set it to 0 to silence this, or use more "
                    "labels", fraction, len(synsets), MIN_SIDE)
        return set()
    order = rng(seed, "pretrain", "unknown_labels").permutation(len(synsets))
    return {synsets[i] for i in order[:n]}


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


def labels_without_items(have: set[tuple], label_synsets: pl.DataFrame, clips: pl.DataFrame, kept: pl.DataFrame,
                         relations: list[str]) -> pl.DataFrame:
    """(relation, label, synset, reason): each mapped label with no item of a configured relation (`have`: the
    (relation, label) pairs with items), and why, by make_items' own tests in turn: no clip of it left to ask
    about, a relation not asked of its role (a sound has no parts), no WordNet row (Relation.no_rows), too few
    unrelated words to offer as negatives."""
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
                reason = (f"no clip of an unrelated {role}-role label to share a question with (each {relation} question is "
                          "asked of a clip it is true for and of clips it is false for)")
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
    unknown = unknown_synsets(table["synset"], shard["unknown_label_fraction"], seed)
    used, left, have = set(), [], set()
    for split, path in (("test", test), ("train", train_pool)):  # each written sorted by item_id, a range at a time
        of_split = clips.filter(pl.col("split") == split)
        with sorted_parquet(path, by="item_id", cuts=item_ranges(of_split["clip_id"], shard), schema=ITEM_SCHEMA) as add:
            u, lo, h = make_items(of_split, bank, mapping, shard, seed, split, add, unknown)
        used, left, have = used | u, left + lo, have | h
    made = {split: sum(r["items"] for r in left if r["split"] == split) for split in ("test", "train")}
    for relation in shard["relations"]:
        if not any(r["items"] for r in left if r["relation"] == relation):
            log.warning("shard.relations lists %s, but no label has an item of it; the card "
                        "(section 'Labels without items, per relation') says why for each label", relation)
    facts = build_words(bank, mapping, used, shard["relations"], seed)
    missing = labels_without_items(have, table, clips, kept, shard["relations"])
    write_parquet(facts, words)
    write_json({"clips": stats, "words": threshold_summary(kept, removed, shard["min_zipf"]),
                "labels_without_items": missing.to_dicts(), "slots_left": left}, summary)
    log.info("SHARD: %d test items, %d pool items, %d word facts; %d relation words rarer than Zipf %s left out",
             made["test"], made["train"], facts.height, removed.height, shard["min_zipf"])
