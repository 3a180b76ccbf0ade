"""The word bank: the words SHARD items ask about and the closed vocabulary their negatives come from.

A negative (a "no" word or a distractor) is drawn from the benchmark's own vocabulary (relation words
of the *other* labels' synsets, of the same role: a source or an event) and is checked against WordNet:
none of its noun senses may be the clip's synset, an ancestor, a descendant or a sibling, nor what the
relation's record guards (Relation.negative_guard: for a meronym, anything the thing has), so an
ambiguous word ("bass": fish and instrument) is never a wrong "no".

No surface cue tells a right word from a negative (tables/artifacts measures it): negatives are matched
to the right word in Zipf frequency, length and MiniLM similarity to the question, with the right
word's rank among the options on each spread evenly (WordBank.matched).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from shard.dataset import surface
from shard.dataset.relations import RELATIONS
from shard.dataset.senses import role_of
from shard.dataset.taxonomy import by_depth, children, parents

MIN_NEGATIVES = 6  # the fewest negatives a pool holds before it widens, and the fewest synsets an mc4 pool names
# the surface features a negative is matched on (shard.dataset.surface), and how far apart weighs as much as
# 1 Zipf unit; the answer's rank among the options is spread evenly on the RANKED ones (the word count
# ties too often to rank)
FEATURES = ("zipf", "chars", "words", "similarity")
UNITS = np.array([1.0, 4.0, 1.0, 0.1])
RANKED = (0, 1, 3)
JITTER = 0.25  # seeded noise added to those distances, so a word does not always meet the same negatives
SHORTLIST = 12  # the nearest owed negatives, plus the nearest few on every side, that a choice is made among

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
    similarity: dict = field(default_factory=dict)  # (word, template_id) -> MiniLM similarity (shard.dataset.surface)
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
        """The pool negatives for a clip's synsets and a relation are matched from: the unrelated
        vocabulary words of the same relation (so a hypernym distractor is a category too) that name
        things of the same role as the clip's (no "Is <audio> a kind of animal?" for thunder); of any
        role, then of any relation, where fewer than the synset's positive words (or MIN_NEGATIVES) remain."""
        key = (synsets, relation, role)
        if key not in self._negatives:
            n = max([len(self.all_positives.get((name, relation), [])) for name in synsets] + [MIN_NEGATIVES])
            by_relation = [w for w in self.vocab_by_relation.get(relation, []) if self.unrelated(w, synsets, relation)]
            same_role = [w for w in by_relation if role in self.roles[w]]
            words = (same_role if len(same_role) >= n else by_relation if len(by_relation) >= n
                     else [w for w in sorted(self.vocab) if self.unrelated(w, synsets, relation)])
            self._negatives[key] = words
        return self._negatives[key]

    def features(self, word: str, template_id: str) -> np.ndarray:
        """What a text-only reader could go by (FEATURES, shard.dataset.surface), in UNITS."""
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
