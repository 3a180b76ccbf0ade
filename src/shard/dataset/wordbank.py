"""The word bank: the words SHARD items ask about and the closed vocabulary their negatives come from.

A negative (a "no" word or a distractor) is a word of the benchmark's own vocabulary (in the items, the
right word of another clip of the same role, shard.dataset.items) and is checked against WordNet: none of
its noun senses may be the clip's synset, an ancestor, a descendant or a sibling, nor what the relation's
record guards (Relation.negative_guard: for a meronym, anything the thing has), so an ambiguous word
("bass": fish and instrument) is never a wrong "no". `clashes` and `same_senses` give those checks as
matrices, for the item generator's blocks.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from shard.dataset.relations import RELATIONS
from shard.dataset.senses import role_of
from shard.dataset.taxonomy import by_depth, children, parents

MIN_NEGATIVES = 6  # the fewest negatives a pool of build_words' extra facts holds before it widens


@dataclass
class WordBank:
    """Positive words per (synset, relation) and the closed vocabulary negatives come from.

    `relations` is relations.parquet restricted to the configured relations and to words people know
    (shard.dataset.vocabulary.common_words: it carries their `zipf`). A word's roles (shard.dataset.relations.ROLES) are
    those of the synsets it names, so a negative can be a thing of the same role as the right answer."""

    wn: object
    relations: pl.DataFrame
    positives: dict = field(default_factory=dict)  # (synset, relation) -> [words], preferred first
    vocab: dict = field(default_factory=dict)  # word -> the synsets it names in relations.parquet
    all_positives: dict = field(default_factory=dict)  # (synset, relation) -> every word
    vocab_by_relation: dict = field(default_factory=dict)  # relation -> sorted words
    roles: dict = field(default_factory=dict)  # word -> the roles of what it names
    zipf: dict = field(default_factory=dict)  # word -> Zipf frequency
    _senses: dict = field(default_factory=dict)
    _guards: dict = field(default_factory=dict)
    _negatives: dict = field(default_factory=dict)
    _pairs: dict = field(default_factory=dict)

    def __post_init__(self):
        for (synset, relation), group in self.relations.group_by(["synset", "relation"], maintain_order=True):
            words = group.sort("depth", "word")
            self.all_positives[(synset, relation)] = words["word"].to_list()
            preferred = RELATIONS[relation].preferred_depth
            if preferred is not None and (words["depth"] <= preferred).any():
                words = words.filter(pl.col("depth") <= preferred)
            self.positives[(synset, relation)] = words["word"].to_list()
        for word, synset, freq in self.relations.select("word", "target_synset", "zipf").unique().sort("word", "target_synset").iter_rows():
            self.vocab.setdefault(word, set()).add(synset)
            self.roles.setdefault(word, set()).add(role_of(self.wn.synset(synset).lexname()))
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

    def _guarded(self, relation: str, synset: str) -> tuple[set, set]:
        """(the synsets the relation's negative_guard adds for `synset`, their lemma words)."""
        guarded = RELATIONS[relation].negative_guard(self.wn.synset(synset))
        return {g.name() for g in guarded}, {l.name().replace("_", " ").lower() for g in guarded for l in g.lemmas()}

    def unrelated(self, word: str, synsets: tuple[str, ...], relation: str | None = None) -> bool:
        """True when no noun sense of `word` is any of `synsets`, their ancestors, descendants or siblings,
        nor what the relation's negative_guard adds (for a meronym, anything they have: a negative part
        must be false by every path)."""
        senses, ancestors = self._word_senses(word)
        guard = relation is not None and RELATIONS[relation].negative_guard is not None
        for name in synsets:
            if name not in self._guards:
                self._guards[name] = self._related(name)
            names, lemmas = self._guards[name]
            if senses & names or name in ancestors or word.lower() in lemmas:
                return False
            if guard:
                if (relation, name) not in self._guards:
                    self._guards[(relation, name)] = self._guarded(relation, name)
                guarded, guarded_words = self._guards[(relation, name)]
                if senses & guarded or word.lower() in guarded_words:
                    return False
        return True

    def negatives(self, synsets: tuple[str, ...], relation: str, role: str) -> list[str]:
        """Unrelated words for a clip's synsets and a relation, that build_words teaches as false facts: the
        vocabulary words of the same relation (a hypernym negative is a category too) that name things of
        the same role as the clip's (no "Is <audio> a kind of animal?" for thunder); of any role, then of
        any relation, where fewer than the synset's positive words (or MIN_NEGATIVES) remain."""
        key = (synsets, relation, role)
        if key not in self._negatives:
            n = max([len(self.all_positives.get((name, relation), [])) for name in synsets] + [MIN_NEGATIVES])
            by_relation = [w for w in self.vocab_by_relation.get(relation, []) if self.unrelated(w, synsets, relation)]
            same_role = [w for w in by_relation if role in self.roles[w]]
            words = (same_role if len(same_role) >= n else by_relation if len(by_relation) >= n
                     else [w for w in sorted(self.vocab) if self.unrelated(w, synsets, relation)])
            self._negatives[key] = words
        return self._negatives[key]

    def clashes(self, words: list[str], synsets: list[str], relation: str) -> np.ndarray:
        """(len(words), len(synsets)) bool: True where the word may not be offered as false for a clip of
        that synset (`unrelated` fails: it names the synset, a relative or, for the relation's guard, what
        the synset has)."""
        return np.array([[not self.unrelated(w, (s,), relation) for s in synsets] for w in words], dtype=bool).reshape(len(words), len(synsets))

    def same_senses(self, words: list[str]) -> np.ndarray:
        """(len(words), len(words)) bool: `same_sense` for every pair, from a word x sense incidence matrix
        (one product, not a call per pair: a label set like AudioSet's has thousands of words)."""
        from scipy import sparse

        senses = [self._word_senses(w)[0] for w in words]
        column = {s: j for j, s in enumerate(sorted(set().union(*senses)))} if words else {}
        rows = [i for i, ss in enumerate(senses) for _ in ss]
        cols = [column[s] for ss in senses for s in ss]
        incidence = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(words), len(column)))
        shared = (incidence @ incidence.T).toarray() > 0
        lower = np.array([w.lower() for w in words])
        return shared | (lower[:, None] == lower[None, :])
