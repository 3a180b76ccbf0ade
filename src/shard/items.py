"""SHARD items: clip x relation x question format, with balanced answers and verified negatives.

A yes/no item asks whether a word stands in a relation to what is sounding; an mc4 item offers one
right word and three distractors. A negative (a "no" word or a distractor) is drawn from the
benchmark's own vocabulary (relation words of the *other* labels' synsets) and is checked against
WordNet: none of its noun senses may be the clip's synset, an ancestor, a descendant or a sibling,
so an ambiguous word ("bass": fish and instrument) is never a wrong "no".
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import polars as pl

from . import templates
from .common import ShardError, rng
from .wordnet import by_depth, children, ensure_wordnet, parents, reader

log = logging.getLogger("shard")

ITEM_SCHEMA = {"item_id": pl.String, "clip_id": pl.String, "label": pl.String, "synset": pl.String,
               "relation": pl.String, "format": pl.String, "template_id": pl.String,
               "question": pl.String, "options": pl.List(pl.String), "answer": pl.String,
               "answer_index": pl.Int64, "candidate": pl.String, "source_kind": pl.String}
WORDS_SCHEMA = {"label": pl.String, "synset": pl.String, "word": pl.String, "relation": pl.String,
                "related": pl.Boolean}
MC_OPTIONS = 4
MIN_NEGATIVES = 6  # per (synset, relation): enough for distinct distractors across a clip's items
PREFERRED_HYPERNYM_DEPTH = 3  # "a kind of canine" teaches more than "a kind of organism"


# ---------------------------------------------------------------- the word bank
@dataclass
class WordBank:
    """Positive words per (synset, relation) and the closed vocabulary negatives come from."""

    wn: object
    relations: pl.DataFrame  # relations.parquet restricted to the configured relations
    positives: dict = field(default_factory=dict)  # (synset, relation) -> [words], preferred first
    vocab: dict = field(default_factory=dict)  # word -> the synsets it names in relations.parquet
    all_positives: dict = field(default_factory=dict)  # (synset, relation) -> every word
    vocab_by_relation: dict = field(default_factory=dict)  # relation -> sorted words
    _senses: dict = field(default_factory=dict)
    _guards: dict = field(default_factory=dict)
    _negatives: dict = field(default_factory=dict)

    def __post_init__(self):
        for (synset, relation), group in self.relations.group_by(["synset", "relation"], maintain_order=True):
            words = group.sort("depth", "word")
            self.all_positives[(synset, relation)] = words["word"].to_list()
            if relation == "hypernym" and (words["depth"] <= PREFERRED_HYPERNYM_DEPTH).any():
                words = words.filter(pl.col("depth") <= PREFERRED_HYPERNYM_DEPTH)
            self.positives[(synset, relation)] = words["word"].to_list()
        for word, synset in self.relations.select("word", "target_synset").unique().sort("word", "target_synset").iter_rows():
            self.vocab.setdefault(word, set()).add(synset)
        for relation, group in self.relations.group_by("relation"):
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

    def same_sense(self, a: str, b: str) -> bool:
        return bool(self._word_senses(a)[0] & self._word_senses(b)[0])

    def _related(self, synset: str) -> tuple[set, set]:
        """(synsets a negative may not name: self, ancestors, siblings; lemma words of self+ancestors)."""
        s = self.wn.synset(synset)
        lineage = {s} | set(by_depth(s, parents, 100))
        siblings = {sib for parent in parents(s) for sib in children(parent)}
        names = {t.name() for t in lineage | siblings}
        lemmas = {l.name().replace("_", " ").lower() for t in lineage for l in t.lemmas()}
        return names, lemmas

    def unrelated(self, word: str, synsets: tuple[str, ...]) -> bool:
        """True when no noun sense of `word` is any of `synsets`, their ancestors, descendants or siblings."""
        senses, ancestors = self._word_senses(word)
        for name in synsets:
            if name not in self._guards:
                self._guards[name] = self._related(name)
            names, lemmas = self._guards[name]
            if senses & names or name in ancestors or word.lower() in lemmas:
                return False
        return True

    def negatives(self, synsets: tuple[str, ...], relation: str, seed: int) -> list[str]:
        """The closed set of negatives for a clip's synsets and a relation: a seeded draw, as many as
        the synset has positive words (at least MIN_NEGATIVES), from the unrelated vocabulary words of
        the same relation (so a hypernym distractor is a category too), or of any relation if short."""
        key = (synsets, relation)
        if key not in self._negatives:
            n = max([len(self.all_positives.get((name, relation), [])) for name in synsets] + [MIN_NEGATIVES])
            by_relation = [w for w in self.vocab_by_relation.get(relation, []) if self.unrelated(w, synsets)]
            words = by_relation if len(by_relation) >= n else [w for w in self.vocab if self.unrelated(w, synsets)]
            g = rng(seed, "items", "negatives", relation, *synsets)
            self._negatives[key] = sorted(words[i] for i in g.permutation(len(words))[:n])
        return self._negatives[key]


# ---------------------------------------------------------------- items
def _cycle(generator, words: list[str], n: int) -> list[str]:
    """n words drawn without replacement while possible (a seeded permutation, cycled)."""
    order = [words[i] for i in generator.permutation(len(words))]
    return [order[i % len(order)] for i in range(n)]


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


def _positions(n: int, seed: int, split: str, relation: str) -> list[int]:
    """Answer positions for n mc4 items: each position equally often (within one), seeded order."""
    base = [i % MC_OPTIONS for i in range(n)]
    return [base[i] for i in rng(seed, "items", split, relation, "mc4", "positions").permutation(n)]


def make_items(clips: pl.DataFrame, bank: WordBank, mapping: dict, shard: dict, seed: int, split: str):
    """Items for one split, and the (label, synset, word, relation) negatives they used."""
    n = shard["items_per_clip"]
    rows, used = [], []
    for relation in shard["relations"]:
        eligible = []  # (clip_id, label, synsets) that have a positive and enough negatives
        for clip_id, label, labels in clips.select("clip_id", "label", "labels").iter_rows():
            synset = mapping[label]["synset"]
            synsets = tuple(sorted({mapping[l]["synset"] for l in labels if mapping.get(l, {}).get("synset")} | {synset}))
            if bank.positives.get((synset, relation)) and len(bank.negatives(synsets, relation, seed)) >= MC_OPTIONS - 1:
                eligible.append((clip_id, label, synsets))
        for fmt in shard["formats"]:
            slots = [(c, k) for c, _, _ in eligible for k in range(n)]
            yes = _yes_answers(slots, n, seed, split, relation) if fmt == "yesno" else {}
            positions = iter(_positions(len(slots), seed, split, relation)) if fmt == "mc4" else None
            for clip_id, label, synsets in eligible:
                synset, lexname = mapping[label]["synset"], mapping[label]["lexname"]
                kind = templates.source_kind(lexname)
                g = rng(seed, "items", split, relation, fmt, clip_id)
                pos = _cycle(g, bank.positives[(synset, relation)], n)
                neg = _cycle(g, bank.negatives(synsets, relation, seed), n * (MC_OPTIONS - 1))
                choices = templates.semantic_templates(relation, kind, fmt)
                for k in range(n):
                    t = int(g.integers(len(choices)))
                    if fmt == "yesno":
                        candidate = pos[k] if yes[(clip_id, k)] else neg[k]
                        options, answer = [templates.YES, templates.NO], templates.YES if yes[(clip_id, k)] else templates.NO
                        negs = [] if yes[(clip_id, k)] else [candidate]
                    else:
                        negs = _distinct(bank, neg, k, pos[k])
                        options = list(negs)
                        options.insert(next(positions), pos[k])
                        candidate, answer = pos[k], pos[k]
                    used += [(label, synset, w, relation) for w in negs]
                    rows.append({"item_id": f"{clip_id}.{relation}.{fmt}.{k}", "clip_id": clip_id,
                                 "label": label, "synset": synset, "relation": relation, "format": fmt,
                                 "template_id": choices[t].id, "question": choices[t].text,
                                 "options": options, "answer": answer, "answer_index": options.index(answer),
                                 "candidate": candidate, "source_kind": kind})
    items = pl.DataFrame(rows, schema=ITEM_SCHEMA).sort("item_id")
    mc = pl.when(pl.col("format") == "mc4").then(pl.col("options"))
    return items.with_columns(question=templates.render(pl.col("question"), mc, word=pl.col("candidate"))), used


def _distinct(bank: WordBank, neg: list[str], k: int, answer: str) -> list[str]:
    """Three distractors for item k, from the k-th block of the cycled negatives on: distinct words
    that share no WordNet sense with the answer or each other (two synonyms would give both away)."""
    out: list[str] = []
    for w in neg[k * (MC_OPTIONS - 1):] + neg:
        if all(w.lower() != o.lower() and not bank.same_sense(w, o) for o in [answer, *out]):
            out.append(w)
        if len(out) == MC_OPTIONS - 1:
            return out
    for w in neg[k * (MC_OPTIONS - 1):] + neg:  # a tiny vocabulary: settle for distinct words
        if w.lower() not in {o.lower() for o in [answer, *out]}:
            out.append(w)
        if len(out) == MC_OPTIONS - 1:
            return out
    raise AssertionError("make_items keeps only clips with enough negatives")


# ---------------------------------------------------------------- words.parquet
def build_words(bank: WordBank, mapping: dict, used: list, relations: list[str], seed: int) -> pl.DataFrame:
    """The text-only facts: every positive relation word of every mapped label, the negatives the
    items used, and more unrelated vocabulary words until negatives match positives per relation."""
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
                pool = [w for w in bank.negatives((m["synset"],), relation, seed) if w not in negatives]
                rows |= {(label, m["synset"], w, relation, False) for w in pool[:missing]}
    return pl.DataFrame(sorted(rows), schema=WORDS_SCHEMA, orient="row").sort(
        "label", "relation", "related", "word", descending=[False, False, True, False])


# ---------------------------------------------------------------- the rule
def _assign_synsets(clips: pl.DataFrame, seed: int) -> dict:
    """synset -> "test" | "train": a seeded split of synsets in the clips' test:train proportion."""
    synsets = sorted(clips["synset"].unique().to_list())
    test_share = (clips["split"] == "test").mean()
    n_test = min(max(round(len(synsets) * test_share), 1), len(synsets) - 1) if len(synsets) > 1 else len(synsets)
    order = rng(seed, "items", "synset_disjoint").permutation(len(synsets))
    return {synsets[i]: "test" if j < n_test else "train" for j, i in enumerate(order)}


def build_items(*, clips_parquet, label_synsets, relations, test, train_pool, words, card, shard: dict,
                seed: int, config: dict, wordnet_source) -> None:
    """Rule `shard_items`: test.parquet, train_pool.parquet, words.parquet and card.md."""
    from .card import write_card
    from .common import write_parquet

    info = ensure_wordnet()
    with open(wordnet_source) as fh:
        recorded = json.load(fh)
    if recorded["checksum"] != info["checksum"]:
        raise ShardError(f"{wordnet_source}: WordNet changed since label_synsets were built "
                         f"({recorded['checksum']} -> {info['checksum']}); rerun the wordnet rule")
    wn = reader()
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
    rel = pl.read_parquet(relations).filter(pl.col("relation").is_in(shard["relations"]))
    bank = WordBank(wn, rel)
    parts = {}
    used = []
    for split in ("test", "train"):
        parts[split], u = make_items(clips.filter(pl.col("split") == split), bank, mapping, shard, seed, split)
        used += u
    facts = build_words(bank, mapping, used, shard["relations"], seed)
    write_parquet(parts["test"], test)
    write_parquet(parts["train"], train_pool)
    write_parquet(facts, words)
    write_card(card, test=parts["test"], pool=parts["train"], words=facts, label_synsets=table,
               source=info, config=config, stats=stats)
    log.info("SHARD: %d test items, %d pool items, %d word facts", parts["test"].height, parts["train"].height, facts.height)
