"""SHARD items: clip x relation x question format, with balanced answers and verified negatives.

A yes/no item asks whether a word stands in a relation to what is sounding; an mc4 item offers one
right word and three distractors. Only words people know are asked about or offered: WordNet lemmas
rarer than `shard.min_zipf` (wordfreq) are left out unless no other word of their synset and relation
remains. A negative (a "no" word or a distractor) is drawn from the benchmark's own vocabulary
(relation words of the *other* labels' synsets, of the same kind: a source or an event) and is checked
against WordNet: none of its noun senses may be the clip's synset, an ancestor, a descendant or a
sibling, so an ambiguous word ("bass": fish and instrument) is never a wrong "no".

No surface cue tells a right word from a negative (tables/artifacts measures it): every word is offered
wrong as often as right, and negatives are matched to the right word in Zipf frequency, length and
MiniLM similarity to the question, with the right word's rank among the options on each spread evenly
(WordBank.matched).
"""
from __future__ import annotations

import itertools
import json
import logging
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from . import surface, templates
from .common import ShardError, rng
from .wordnet import NO_ROWS, by_depth, children, ensure_wordnet, parents, part_closure, reader

log = logging.getLogger("shard")

ITEM_SCHEMA = {"item_id": pl.String, "clip_id": pl.String, "label": pl.String, "synset": pl.String,
               "relation": pl.String, "format": pl.String, "template_id": pl.String,
               "question": pl.String, "options": pl.List(pl.String), "answer": pl.String,
               "answer_index": pl.Int64, "candidate": pl.String, "source_kind": pl.String}
WORDS_SCHEMA = {"label": pl.String, "synset": pl.String, "word": pl.String, "relation": pl.String,
                "related": pl.Boolean, "zipf": pl.Float64}
MC_OPTIONS = 4
MIN_NEGATIVES = 6  # the fewest negatives a pool holds before it widens, and the fewest synsets an mc4 pool names
# the deepest rows asked about where a synset has any: "a kind of canine" teaches more than "a kind of
# organism", a dog's own paw more than the cell every organism has
PREFERRED_DEPTH = {"hypernym": 3, "meronym": 1}
# the surface features a negative is matched on (shard.surface), and how far apart weighs as much as
# 1 Zipf unit; the answer's rank among the options is spread evenly on the RANKED ones (the word count
# ties too often to rank)
FEATURES = ("zipf", "chars", "words", "similarity")
UNITS = np.array([1.0, 4.0, 1.0, 0.1])
RANKED = (0, 1, 3)
JITTER = 0.25  # seeded noise added to those distances, so a word does not always meet the same negatives
SHORTLIST = 12  # the nearest owed negatives, plus the nearest few on every side, that a choice is made among


# ---------------------------------------------------------------- words people know
def common_words(wn, relations: pl.DataFrame, min_zipf: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(kept, removed): relations.parquet rows with a `zipf` column, split at `min_zipf`. A (synset,
    relation) whose every word is rarer keeps its commonest one (ties: the target synset's first lemma),
    so no synset loses a relation to the threshold."""
    words = sorted(set(relations["word"]))
    freq = {w: surface.zipf(w) for w in words}
    ranked = relations.with_columns(zipf=pl.col("word").replace_strict(freq, return_dtype=pl.Float64))

    def lemma_rank(word: str, target: str) -> int:
        names = [n.replace("_", " ").lower() for n in wn.synset(target).lemma_names()]
        return names.index(word.lower()) if word.lower() in names else len(names)

    keep = []
    for (synset, relation), group in ranked.group_by(["synset", "relation"], maintain_order=True):
        common = group.filter(pl.col("zipf") >= min_zipf)
        if not common.height:
            best = min(group.iter_rows(named=True), key=lambda r: (-r["zipf"], lemma_rank(r["word"], r["target_synset"]), r["word"]))
            common = group.filter(pl.col("word") == best["word"])
        keep.append(common)
    kept = pl.concat(keep).sort(relations.columns) if keep else ranked.clear()
    removed = ranked.join(kept.select("synset", "relation", "word"), on=["synset", "relation", "word"], how="anti")
    return kept, removed.sort(relations.columns)


# ---------------------------------------------------------------- the word bank
@dataclass
class WordBank:
    """Positive words per (synset, relation) and the closed vocabulary negatives come from.

    `relations` is relations.parquet restricted to the configured relations and to words people know
    (common_words: it carries their `zipf`). A word's kind ("source" | "event") is that of the synset
    it names, so a negative can be a thing of the same kind as the right answer."""

    wn: object
    relations: pl.DataFrame
    positives: dict = field(default_factory=dict)  # (synset, relation) -> [words], preferred first
    vocab: dict = field(default_factory=dict)  # word -> the synsets it names in relations.parquet
    all_positives: dict = field(default_factory=dict)  # (synset, relation) -> every word
    vocab_by_relation: dict = field(default_factory=dict)  # relation -> sorted words
    kind: dict = field(default_factory=dict)  # word -> {"source", "event"}: the kinds of what it names
    zipf: dict = field(default_factory=dict)  # word -> Zipf frequency
    similarity: dict = field(default_factory=dict)  # (word, template_id) -> MiniLM similarity (shard.surface)
    _senses: dict = field(default_factory=dict)
    _guards: dict = field(default_factory=dict)
    _negatives: dict = field(default_factory=dict)
    _pairs: dict = field(default_factory=dict)

    def __post_init__(self):
        for (synset, relation), group in self.relations.group_by(["synset", "relation"], maintain_order=True):
            words = group.sort("depth", "word")
            self.all_positives[(synset, relation)] = words["word"].to_list()
            preferred = PREFERRED_DEPTH.get(relation)
            if preferred is not None and (words["depth"] <= preferred).any():
                words = words.filter(pl.col("depth") <= preferred)
            self.positives[(synset, relation)] = words["word"].to_list()
        for word, synset, freq in self.relations.select("word", "target_synset", "zipf").unique().sort("word", "target_synset").iter_rows():
            self.vocab.setdefault(word, set()).add(synset)
            self.kind.setdefault(word, set()).add(templates.source_kind(self.wn.synset(synset).lexname()))
            self.zipf[word] = freq
        for (relation,), group in self.relations.group_by("relation"):
            self.vocab_by_relation[relation] = sorted(set(group["word"]))

    def _word_senses(self, word: str) -> tuple[set, set]:
        """(noun senses of word, all their ancestors), by synset name."""
        if word not in self._senses:
            senses = {s.name() for s in self.wn.synsets(word.replace(" ", "_"), pos="n")} | self.vocab.get(word, set())
            ancestors = set()
            for name in senses:
                ancestors |= {s.name() for s in by_depth(self.wn.synset(name), parents, 100)}
            self._senses[word] = (senses, ancestors)
        return self._senses[word]

    def senses(self, words: list[str]) -> int:
        """How many distinct synsets the words name in relations.parquet."""
        return len({s for w in words for s in self.vocab[w]})

    def same_sense(self, a: str, b: str) -> bool:
        """Two words that cannot both be offered: the same word, or one sense shared."""
        key = (a, b) if a <= b else (b, a)
        if key not in self._pairs:
            self._pairs[key] = a.lower() == b.lower() or bool(self._word_senses(a)[0] & self._word_senses(b)[0])
        return self._pairs[key]

    def _related(self, synset: str) -> tuple[set, set]:
        """(synsets a negative may not name: self, ancestors, siblings; lemma words of self+ancestors)."""
        s = self.wn.synset(synset)
        lineage = {s} | set(by_depth(s, parents, 100))
        siblings = {sib for parent in parents(s) for sib in children(parent)}
        names = {t.name() for t in lineage | siblings}
        lemmas = {l.name().replace("_", " ").lower() for t in lineage for l in t.lemmas()}
        return names, lemmas

    def _parts(self, synset: str) -> tuple[set, set]:
        """(synsets naming what the thing has under any inherited path (part_closure), their lemma words)."""
        parts = part_closure(self.wn.synset(synset))
        return {p.name() for p in parts}, {l.name().replace("_", " ").lower() for p in parts for l in p.lemmas()}

    def unrelated(self, word: str, synsets: tuple[str, ...], relation: str | None = None) -> bool:
        """True when no noun sense of `word` is any of `synsets`, their ancestors, descendants or siblings,
        nor, for a meronym, anything they have (a negative part must be false by every path)."""
        senses, ancestors = self._word_senses(word)
        for name in synsets:
            if name not in self._guards:
                self._guards[name] = self._related(name)
            names, lemmas = self._guards[name]
            if senses & names or name in ancestors or word.lower() in lemmas:
                return False
            if relation == "meronym":
                if ("parts", name) not in self._guards:
                    self._guards[("parts", name)] = self._parts(name)
                parts, part_words = self._guards[("parts", name)]
                if senses & parts or word.lower() in part_words:
                    return False
        return True

    def negatives(self, synsets: tuple[str, ...], relation: str, kind: str) -> list[str]:
        """The pool negatives for a clip's synsets and a relation are matched from: the unrelated
        vocabulary words of the same relation (so a hypernym distractor is a category too) that name
        things of the same kind as the clip's (no "Is <audio> a kind of animal?" for thunder); of any
        kind, then of any relation, where fewer than the synset's positive words (or MIN_NEGATIVES) remain."""
        key = (synsets, relation, kind)
        if key not in self._negatives:
            n = max([len(self.all_positives.get((name, relation), [])) for name in synsets] + [MIN_NEGATIVES])
            by_relation = [w for w in self.vocab_by_relation.get(relation, []) if self.unrelated(w, synsets, relation)]
            same_kind = [w for w in by_relation if kind in self.kind[w]]
            words = (same_kind if len(same_kind) >= n else by_relation if len(by_relation) >= n
                     else [w for w in sorted(self.vocab) if self.unrelated(w, synsets, relation)])
            self._negatives[key] = words
        return self._negatives[key]

    def features(self, word: str, template_id: str) -> np.ndarray:
        """What a text-only reader could go by (FEATURES, shard.surface), in UNITS."""
        return np.array([self.zipf[word], len(word), surface.n_words(word), self.similarity[(word, template_id)]]) / UNITS

    def matched(self, pool: list[str], answer: str, template_id: str, n: int, need: dict, ranks: np.ndarray,
                drift: np.ndarray, g) -> list[str]:
        """n negatives from `pool` for the right word `answer` of an item asked with `template_id`.

        In order of priority: pairwise distinct in sense and never sharing one with `answer`; words still
        owed wrong uses (`need[w]` > 0: every word is offered as wrong as often as it is right, so which
        word is offered says nothing); on each surface feature (Zipf frequency, length, similarity to the
        question) a chosen number r of the n above the right word and n - r below it, r picked where
        `ranks` (feature x r: how often each r was realised so far) lags most, so that over the items
        the right word is the commonest, longest or most similar option only as often as chance; then
        the least `drift` (per feature, the right words' sum less their negatives' mean, over the items
        so far: zero leaves a logistic regression on these features nothing to learn) plus distance on
        those features (seeded jitter breaks ties). Updates `need`, `ranks` and `drift`."""
        words = [w for w in pool if not self.same_sense(w, answer)]
        if len(words) < n:
            words = [w for w in pool if w.lower() != answer.lower()]
        delta = np.array([self.features(w, template_id) for w in words]) - self.features(answer, template_id)
        side = np.sign(delta[:, RANKED])  # +1 above the right word, -1 below, 0 tied
        owed = np.array([need.get(w, 0) > 0 for w in words])
        dist = np.abs(delta).sum(1) + JITTER * g.random(len(words))
        order = np.lexsort((dist, ~owed))
        short = list(order[:SHORTLIST])
        for corner in itertools.product((-1.0, 1.0), repeat=len(RANKED)):  # the nearest few on every side
            short += [i for i in order if (side[i] == corner).all()][:n]
        short = np.array(sorted(set(short), key=lambda i: (not owed[i], dist[i])))
        target = []
        for f in range(len(RANKED)):  # r above the right word: achievable, and lagging most
            above, below = int((side[short, f] > 0).sum()), int((side[short, f] < 0).sum())
            possible = [r for r in range(n + 1) if r <= above and n - r <= below] or list(range(n + 1))
            lag = ranks[f, possible].min()
            target.append(int(g.choice([r for r in possible if ranks[f, r] == lag])))
        combos = _combinations(len(short), n)
        idx = short[combos]  # (n_combos, n) indices into words
        s = side[idx]  # (n_combos, n, features)
        miss = (np.abs((s > 0).sum(1) - target) + np.abs((s < 0).sum(1) - (n - np.array(target)))).sum(1)
        pair = np.array([[self.same_sense(words[i], words[j]) for j in short] for i in short]).reshape(len(short), len(short))
        clash = np.zeros(len(combos), dtype=bool)
        for a, b in itertools.combinations(range(n), 2):
            clash |= pair[combos[:, a], combos[:, b]]
        after = np.abs(drift - delta[idx].mean(1)).sum(1)  # the drift each choice leaves
        best = idx[np.lexsort((after + dist[idx].sum(1), miss, (~owed[idx]).sum(1), clash))[0]]
        for f, (above, tied) in enumerate(zip((side[best] > 0).sum(0), (side[best] == 0).sum(0))):
            ranks[f, above:above + tied + 1] += 1 / (tied + 1)  # a tie: any of those ranks, equally likely
        drift -= delta[best].mean(0)
        for i in best:
            need[words[i]] = need.get(words[i], 0) - 1
        return [words[i] for i in best]


def _combinations(m: int, n: int) -> np.ndarray:
    """Every n-subset of range(m), as rows of an array."""
    return np.array(list(itertools.combinations(range(m), n)), dtype=int).reshape(-1, n)


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
    by_clip = {c: (mapping[label]["synset"], synsets, kind) for c, label, synsets, kind in eligible}
    room: dict[str, float] = {}
    shown = n if wrong > 1 else n / 2  # a clip's slots that show negatives: every mc4 item, half the yes/no ones
    for _, synsets, kind in by_clip.values():
        for w in bank.negatives(synsets, relation, kind):
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
        eligible = []  # (clip_id, label, synsets, kind) that have a positive and enough negatives
        for clip_id, label, labels in clips.select("clip_id", "label", "labels").iter_rows():
            synset = mapping[label]["synset"]
            synsets = tuple(sorted({mapping[l]["synset"] for l in labels if mapping.get(l, {}).get("synset")} | {synset}))
            kind = templates.source_kind(mapping[label]["lexname"])
            if (kind in templates.asked_kinds(relation) and bank.positives.get((synset, relation))
                    and len(bank.negatives(synsets, relation, kind)) >= MC_OPTIONS - 1):
                eligible.append((clip_id, label, synsets, kind))
        for fmt in shard["formats"]:
            if fmt == "mc4":  # three distractors need a pool of the clip's kind that names enough synsets to vary
                eligible = [e for e in eligible
                            if bank.senses([w for w in bank.negatives(e[2], relation, e[3]) if e[3] in bank.kind[w]]) >= MIN_NEGATIVES]
            slots = [(c, k) for c, _, _, _ in eligible for k in range(n)]
            yes = _yes_answers(slots, n, seed, split, relation) if fmt == "yesno" else {}
            wrong = 1 if fmt == "yesno" else MC_OPTIONS - 1  # negatives per item
            right = _right_words(eligible, slots, yes, bank, mapping, relation, n, wrong, rng(seed, "items", split, relation, fmt, "positives"))
            plan = {}  # slot -> (label, synset, synsets, kind, template, right word)
            for clip_id, label, synsets, kind in eligible:
                g = rng(seed, "items", split, relation, fmt, clip_id)
                choices = templates.semantic_templates(relation, kind, fmt)
                for k in range(n):
                    plan[(clip_id, k)] = (label, mapping[label]["synset"], synsets, kind, choices[int(g.integers(len(choices)))], right[(clip_id, k)])
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
                _, _, synsets, kind, template, word = plan[slot]
                negs[slot] = bank.matched(bank.negatives(synsets, relation, kind), word, template.id, wrong, need, ranks, drift, g)
            positions = iter(_balanced(len(slots), MC_OPTIONS, seed, "items", split, relation, "mc4", "positions")) if fmt == "mc4" else None
            for slot in slots:
                (clip_id, k), (label, synset, _, kind, template, word) = slot, plan[slot]
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
                             "candidate": candidate, "source_kind": kind})
    items = pl.DataFrame(rows, schema=ITEM_SCHEMA).sort("item_id")
    mc = pl.when(pl.col("format") == "mc4").then(pl.col("options"))
    return items.with_columns(question=templates.render(pl.col("question"), mc, word=pl.col("candidate"))), used


# ---------------------------------------------------------------- words.parquet
def build_words(bank: WordBank, mapping: dict, used: list, relations: list[str], seed: int) -> pl.DataFrame:
    """The text-only facts: every positive relation word of every mapped label (of the words people
    know), the negatives the items used, and more unrelated vocabulary words of the label's kind until
    negatives match positives per relation; each with its Zipf frequency."""
    rows = set()
    for label, m in sorted(mapping.items()):
        if not m["synset"]:
            continue
        for relation in relations:
            positives = bank.relations.filter(pl.col("synset") == m["synset"], pl.col("relation") == relation)["word"]
            rows |= {(label, m["synset"], w, relation, True) for w in positives}
            negatives = {w for l, _, w, r in used if l == label and r == relation}
            rows |= {(label, m["synset"], w, relation, False) for w in negatives}
            missing = len(positives) - len(negatives)
            if missing > 0:
                pool = [w for w in bank.negatives((m["synset"],), relation, templates.source_kind(m["lexname"]))
                        if w not in negatives]
                order = rng(seed, "items", "facts", label, relation).permutation(len(pool))
                rows |= {(label, m["synset"], pool[i], relation, False) for i in order[:missing]}
    return pl.DataFrame([(*r, bank.zipf[r[2]]) for r in sorted(rows)], schema=WORDS_SCHEMA, orient="row").sort(
        "label", "relation", "related", "word", descending=[False, False, True, False])


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


def usable_relations(wn, relations, shard: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(kept, removed) rows of relations.parquet for the configured relations, split at shard.min_zipf."""
    rel = pl.read_parquet(relations).filter(pl.col("relation").is_in(shard["relations"]))
    return common_words(wn, rel, shard["min_zipf"])


def labels_without_items(items: pl.DataFrame, label_synsets: pl.DataFrame, clips: pl.DataFrame, kept: pl.DataFrame,
                         relations: list[str]) -> pl.DataFrame:
    """(relation, label, synset, reason): each mapped label with no item of a configured relation, and why,
    by make_items' own tests in turn: no clip of it left to ask about, a relation not asked of its kind (a
    sound has no parts), no WordNet row (wordnet.NO_ROWS), too few unrelated words to offer as negatives."""
    have = set(items.select("relation", "label").unique().iter_rows())
    asked = set(clips["label"])
    has_rows = set(kept.select("synset", "relation").unique().iter_rows())
    rows = []
    for relation in relations:
        kinds = templates.asked_kinds(relation)
        for label, synset, lexname in (label_synsets.filter(pl.col("synset").is_not_null())
                                       .select("label", "synset", "lexname").sort("label").iter_rows()):
            if (relation, label) in have:
                continue
            kind = templates.source_kind(lexname)
            if label not in asked:
                reason = "no clip left with it as its label (a secondary label only, or on the other side of the synset-disjoint split)"
            elif kind not in kinds:
                reason = f"{kind}-role label: {relation} is asked of {' and '.join(sorted(kinds))} labels only"
            elif (synset, relation) not in has_rows:
                reason = NO_ROWS[relation]
            else:
                reason = f"fewer than {MC_OPTIONS - 1} unrelated {relation} words of WordNet to offer as negatives"
            rows.append({"relation": relation, "label": label, "synset": synset, "reason": reason})
    return pl.DataFrame(rows, schema={"relation": pl.String, "label": pl.String, "synset": pl.String, "reason": pl.String})


def check_wordnet(wordnet_source) -> dict:
    """This machine's WordNet (ensure_wordnet), refused if it is not the one label_synsets were built from."""
    info = ensure_wordnet()
    with open(wordnet_source) as fh:
        recorded = json.load(fh)
    if recorded["checksum"] != info["checksum"]:
        raise ShardError(f"{wordnet_source}: WordNet changed since label_synsets were built "
                         f"({recorded['checksum']} -> {info['checksum']}); rerun the wordnet rule")
    return info


def build_items(*, clips_parquet, label_synsets, relations, test, train_pool, words, shard: dict, seed: int,
                wordnet_source) -> None:
    """Rule `shard_items`: test.parquet, train_pool.parquet and words.parquet (the card is rule `shard_card`)."""
    from .common import write_parquet

    check_wordnet(wordnet_source)
    wn = reader()
    _, mapping, clips, _ = select_clips(clips_parquet, label_synsets, shard, seed)
    kept, removed = usable_relations(wn, relations, shard)
    bank = WordBank(wn, kept)
    ids = [t.id for rel in shard["relations"] for kind in ("source", "event") for fmt in shard["formats"]
           for t in templates.semantic_templates(rel, kind, fmt)]
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
    write_parquet(parts["test"], test)
    write_parquet(parts["train"], train_pool)
    write_parquet(facts, words)
    log.info("SHARD: %d test items, %d pool items, %d word facts; %d relation words rarer than Zipf %s left out",
             parts["test"].height, parts["train"].height, facts.height, removed.height, shard["min_zipf"])
