"""The WordNet relations SHARD asks about: one record each, registered in RELATIONS.

A record is all the workflow knows of a relation: its walk over WordNet (the rows of relations.parquet),
its question and fact templates, whether every mini_ltu tokenizer learns them, why a synset may have no
row, its column title (tables list relations in registration order), the depth preferred for the words
asked about, and what else a negative may not name. Adding a relation is one `register(Relation(...))`;
config validation, the wordnet and items stages, the prompts and the tables read the records.

Light on purpose (no nltk, no polars): the Snakefile reads RELATIONS when it validates the config.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, NamedTuple

from shard.dataset.taxonomy import by_depth, children, lemma_words, parents, part_closure

# What a label's synset names: the thing making the sound, or the sound (an event) itself. Questions
# are worded for one or the other ("Is the thing making <audio> ..." / "Is <audio> ...").
SOURCE, EVENT = "source", "event"
ROLES = (SOURCE, EVENT)
# Part meronyms are inherited along hypernyms ("crow" has the wing of bird.n.01, four steps up): the parts
# of the synset and of its hypernyms up to this many steps, each row's depth that of its holonym.
MERONYM_DEPTH = 4


class Target(NamedTuple):
    """A synset a walk reached, `depth` steps away; its lemmas named in `banned` (lowercase, as WordNet
    writes them) give no row."""

    synset: object
    depth: int
    banned: frozenset = frozenset()


# (synset, skip: names of wordnet.skip_hypernyms, max_depth: wordnet.max_hypernym_depth) -> the targets
Walk = Callable[..., Iterable[Target]]


@dataclass(frozen=True)
class Relation:
    name: str  # the value of config shard.relations, the `relation` column of every output
    title: str  # its column title in the result tables
    walk: Walk
    no_rows: str  # why a synset has no row of it (the dataset card quotes it for each label left without items)
    # (role, question format) -> the paraphrases of its SHARD question, with <audio> and {word}; the roles
    # listed are those it is asked of (a sound has no parts)
    questions: Mapping[tuple[str, str], tuple[str, ...]] = field(hash=False)
    # question format -> its text-only statement for base-model pretraining, {a} the label, {b} the word
    facts: Mapping[str, str] = field(default_factory=dict, hash=False)
    # (role, question format) -> more wordings of its question, for base-model pretraining only, never a held-out
    # paraphrase's frame: a fact met in many frames is a fact the model can be asked in a new one
    pretrain_questions: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict, hash=False)
    # every mini_ltu tokenizer learns its texts, asked or not (the published default's relations); one
    # added since joins the tokenizer only in runs that ask it, so the default's weights stay as they were
    in_tokenizer: bool = False
    # the deepest rows asked about where a synset has any ("a kind of canine" teaches more than "a kind of
    # organism"); None: every row
    preferred_depth: int | None = None
    # synset -> more synsets a negative may not name, beyond the clip's synset, its lineage and siblings
    negative_guard: Callable[[object], Iterable] | None = None
    # no row for a word the label itself says ("Car horn" is not its own synonym "car horn")
    skip_label_names: bool = False

    @property
    def roles(self) -> set[str]:
        """The roles of clip (SOURCE, EVENT) it has questions for."""
        return {role for role, _ in self.questions}


RELATIONS: dict[str, Relation] = {}


def register(relation: Relation) -> Relation:
    RELATIONS[relation.name] = relation
    return relation


def relation_title(relation: str) -> str:
    """A relation's column title; a relation no record names (an older run's) by its name."""
    return RELATIONS[relation].title if relation in RELATIONS else relation.capitalize()


def ordered_relations(present) -> list[str]:
    """The relations found in the data, registered ones first in registration order, any other after them
    by name: a column each."""
    present = set(present)
    return [r for r in RELATIONS if r in present] + sorted(present - set(RELATIONS))


# ---------------------------------------------------------------- the walks
def _own(synset) -> frozenset:
    return frozenset(lemma_words([synset]))


def same_synset(synset, skip, max_depth):
    yield Target(synset, 0)


def hypernyms(synset, skip, max_depth):
    for target, depth in by_depth(synset, parents, max_depth).items():
        if target.name() not in skip:
            yield Target(target, depth, _own(synset))


def hyponyms(synset, skip, max_depth):
    for target, depth in by_depth(synset, children, 2).items():
        yield Target(target, depth, _own(synset))


def cohyponyms(synset, skip, max_depth):
    """Siblings under a direct parent; never a word that also names the synset or its lineage."""
    ancestors, descendants = by_depth(synset, parents, 100), by_depth(synset, children, 100)
    lineage = frozenset(lemma_words([*ancestors, *descendants]) | _own(synset))
    for parent in parents(synset):
        for sibling in children(parent):
            if sibling != synset and sibling not in ancestors and sibling not in descendants:
                yield Target(sibling, 1, lineage)


def part_meronyms(synset, skip, max_depth):
    """Parts of the synset (depth 0) and of its hypernyms (their depth); never meat (noun.food: beef.n.02
    "boeuf" of cattle) nor a part named like the synset's own lineage (bird.n.02 "bird, fowl", the flesh):
    parts of a meal, not of the living thing making the sound."""
    ancestors = by_depth(synset, parents, 100)
    holders = {synset: 0, **{t: d for t, d in by_depth(synset, parents, MERONYM_DEPTH).items() if t.name() not in skip}}
    own_lineage = lemma_words([synset, *ancestors])
    for holder, depth in holders.items():
        for part in holder.part_meronyms():
            if part.lexname() != "noun.food" and not own_lineage & lemma_words([part]):
                yield Target(part, depth)


def two_hop_hypernyms(synset, skip, max_depth):
    """Two hops exactly: the grandparents that are not also a parent along another path."""
    for target, depth in by_depth(synset, parents, 2).items():
        if depth == 2 and target.name() not in skip:
            yield Target(target, 2, _own(synset))


# ---------------------------------------------------------------- the relations, in table order
register(Relation(
    "synonym", "Synonym", same_synset, "no other WordNet lemma than the label's own names",
    questions={
        (SOURCE, "yesno"): ("Is the thing making <audio> also called {word}?",
                            "Could the source of <audio> be called {word}?",
                            "Is <audio> made by something also known as {word}?"),
        (EVENT, "yesno"): ("Is <audio> also called {word}?",
                           "Could <audio> be described as {word}?",
                           "Is another name for <audio> {word}?"),
        (SOURCE, "mc4"): ("Which word is another name for the thing making <audio>?",
                          "What else is the source of <audio> called?"),
        (EVENT, "mc4"): ("Which word is another name for <audio>?",
                         "What else is <audio> called?"),
    },
    facts={"yesno": "Is {a} also called {b}?", "mc4": "Which word is another name for {a}?"},
    pretrain_questions={
        (SOURCE, "mc4"): ("What is another word for the thing making <audio>?",
                          "The source of <audio> is also known as what?",
                          "Name another word for what makes <audio>."),
        (EVENT, "mc4"): ("What is another word for <audio>?",
                         "<audio> is also known as what?",
                         "Name another word for <audio>."),
    },
    in_tokenizer=True, skip_label_names=True,
))
register(Relation(
    "hypernym", "Hypernym", hypernyms,
    "no hypernym within wordnet.max_hypernym_depth outside wordnet.skip_hypernyms",
    questions={
        (SOURCE, "yesno"): ("Is the thing making <audio> a kind of {word}?",
                            "Is the source of <audio> a type of {word}?",
                            "Does <audio> come from some kind of {word}?"),
        (EVENT, "yesno"): ("Is <audio> a kind of {word}?",
                           "Is <audio> a type of {word}?",
                           "Would you class <audio> as a kind of {word}?"),
        (SOURCE, "mc4"): ("The thing making <audio> is a kind of what?",
                          "Which of these is the source of <audio> a type of?"),
        (EVENT, "mc4"): ("<audio> is a kind of what?",
                         "Which of these is <audio> a type of?"),
    },
    facts={"yesno": "Is {a} a kind of {b}?", "mc4": "{a} is a kind of what?"},
    pretrain_questions={
        (SOURCE, "mc4"): ("What kind of thing is making <audio>?",
                          "The source of <audio> belongs to which kind?",
                          "Name the kind of thing that makes <audio>."),
        (EVENT, "mc4"): ("What kind of thing is <audio>?",
                         "<audio> belongs to which kind?",
                         "Name the kind that <audio> belongs to."),
    },
    in_tokenizer=True, preferred_depth=3,
))
register(Relation(
    "hyponym", "Hyponym", hyponyms, "no hyponym within two steps in WordNet",
    questions={
        (SOURCE, "yesno"): ("Is {word} a kind of the thing making <audio>?",
                            "Is {word} a special type of the source of <audio>?"),
        (EVENT, "yesno"): ("Is {word} a kind of <audio>?",
                           "Is {word} a special type of <audio>?"),
        (SOURCE, "mc4"): ("Which of these is a kind of the thing making <audio>?",),
        (EVENT, "mc4"): ("Which of these is a kind of <audio>?",),
    },
    facts={"yesno": "Is {b} a kind of {a}?", "mc4": "Which of these is a kind of {a}?"},
    in_tokenizer=True,
))
register(Relation(
    "cohyponym", "Co-hyponym", cohyponyms, "no sibling under a direct hypernym in WordNet",
    questions={
        (SOURCE, "yesno"): ("Is the thing making <audio> a sibling kind of {word}?",
                            "Do the source of <audio> and {word} belong to the same kind?"),
        (EVENT, "yesno"): ("Is <audio> a sibling kind of {word}?",
                           "Do <audio> and {word} belong to the same kind?"),
        (SOURCE, "mc4"): ("Which of these is a sibling kind of the thing making <audio>?",),
        (EVENT, "mc4"): ("Which of these is a sibling kind of <audio>?",),
    },
    facts={"yesno": "Are {a} and {b} sibling kinds?", "mc4": "Which of these is a sibling kind of {a}?"},
    in_tokenizer=True,
))
register(Relation(
    "meronym", "Meronym", part_meronyms,
    f"no part meronym in WordNet for the synset or its hypernyms within {MERONYM_DEPTH} steps",
    questions={  # asked of sources only: a sound has no parts
        (SOURCE, "yesno"): ("Does the thing making <audio> have a part called {word}?",
                            "Is {word} a part of the source of <audio>?"),
        (SOURCE, "mc4"): ("Which of these is a part of the thing making <audio>?",),
    },
    facts={"yesno": "Is {b} a part of {a}?", "mc4": "Which of these is a part of {a}?"},
    preferred_depth=1,  # a dog's own paw teaches more than the cell every organism has
    negative_guard=part_closure,  # a negative part must be false by every inherited path
))
register(Relation(
    "hypernym2", "Hypernym (2 hops)", two_hop_hypernyms,
    "no hypernym exactly two steps up outside wordnet.skip_hypernyms",
    questions={  # worded apart from the one-hop hypernym, so the table's column means what it says
        (SOURCE, "yesno"): ("Is the thing making <audio> a kind of something that is a kind of {word}?",
                            "Is the source of <audio> a type of a type of {word}?"),
        (EVENT, "yesno"): ("Is <audio> a kind of something that is a kind of {word}?",
                           "Is <audio> a type of a type of {word}?"),
        (SOURCE, "mc4"): ("The thing making <audio> is a kind of something that is a kind of what?",),
        (EVENT, "mc4"): ("<audio> is a kind of something that is a kind of what?",),
    },
    facts={"yesno": "Is {a} a kind of something that is a kind of {b}?",
           "mc4": "{a} is a kind of something that is a kind of what?"},
))
