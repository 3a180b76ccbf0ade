"""words.parquet: the text-only WordNet facts base-model pretraining teaches about each label (shard.prompts.synthesis
fact prompts), balanced between related and unrelated words."""
from __future__ import annotations

import polars as pl

from shard.common import rng
from shard.dataset.senses import role_of
from shard.dataset.wordbank import WordBank

WORDS_SCHEMA = {"label": pl.String, "synset": pl.String, "word": pl.String, "relation": pl.String,
                "related": pl.Boolean, "zipf": pl.Float64}


def build_words(bank: WordBank, mapping: dict, used: set, relations: list[str], seed: int) -> pl.DataFrame:
    """The text-only facts: every positive relation word of every mapped label (of the words people
    know), the negatives the items used, and more unrelated vocabulary words of the label's role until
    negatives match positives per relation; each with its Zipf frequency."""
    rows, offered = set(), {}
    for label, _, word, relation in used:  # (label, relation) -> the negatives its items offered
        offered.setdefault((label, relation), set()).add(word)
    for label, m in sorted(mapping.items()):
        if not m["synset"]:
            continue
        for relation in relations:
            positives = bank.relations.filter(pl.col("synset") == m["synset"], pl.col("relation") == relation)["word"]
            rows |= {(label, m["synset"], w, relation, True) for w in positives}
            negatives = offered.get((label, relation), set())
            rows |= {(label, m["synset"], w, relation, False) for w in negatives}
            missing = len(positives) - len(negatives)
            if missing > 0:
                pool = [w for w in bank.negatives((m["synset"],), relation, role_of(m["lexname"]))
                        if w not in negatives]
                order = rng(seed, "items", "facts", label, relation).permutation(len(pool))
                rows |= {(label, m["synset"], pool[i], relation, False) for i in order[:missing]}
    return pl.DataFrame([(*r, bank.zipf[r[2]]) for r in sorted(rows)], schema=WORDS_SCHEMA, orient="row").sort(
        "label", "relation", "related", "word", descending=[False, False, True, False])
