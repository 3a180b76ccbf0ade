"""Rule `wordnet`: each clip label -> one WordNet noun synset (shard.dataset.senses), then that synset's rows of
every registered relation (shard.dataset.relations: each record's walk) -> label_synsets.parquet, relations.parquet."""
from __future__ import annotations

import logging

import polars as pl

from shard.common import readable, write_json, write_parquet
from shard.dataset.relations import RELATIONS
from shard.dataset.senses import label_variants, map_labels
from shard.dataset.wordnet import ensure_wordnet, reader

log = logging.getLogger("shard")

RELATIONS_SCHEMA = {"synset": pl.String, "relation": pl.String, "word": pl.String,
                    "target_synset": pl.String, "depth": pl.Int64}


def synset_relations(synset, skip: set[str], max_depth: int) -> list[dict]:
    """Rows (synset, relation, word, target_synset, depth) for one synset, one row per (relation, word):
    every registered relation's walk, each word at its nearest target (then the first by name)."""
    rows: dict[tuple[str, str], dict] = {}
    for relation in RELATIONS.values():
        for target, depth, banned in relation.walk(synset, skip, max_depth):
            for lemma in target.lemmas():
                if lemma.name().lower() in banned:
                    continue
                word = readable(lemma.name())
                key = (relation.name, word.lower())
                if key not in rows or (depth, target.name()) < (rows[key]["depth"], rows[key]["target_synset"]):
                    rows[key] = {"synset": synset.name(), "relation": relation.name, "word": word,
                                 "target_synset": target.name(), "depth": depth}
    return list(rows.values())


def label_names(label: str) -> set[str]:
    """The words a label already says (lowercase, spaces): never offered as its own synonym."""
    return {readable(form).lower() for form, how in label_variants(label) if not how.startswith("head noun")}


def build_relations(wn, label_synsets: pl.DataFrame, skip: set[str], max_depth: int) -> pl.DataFrame:
    mapped = label_synsets.filter(pl.col("synset").is_not_null())
    names: dict[str, set[str]] = {}
    for label, synset in mapped.select("label", "synset").iter_rows():
        names.setdefault(synset, set()).update(label_names(label))
    rows = []
    for name in sorted(names):
        synset = wn.synset(name)
        rows += [r for r in synset_relations(synset, skip, max_depth)
                 if not (RELATIONS[r["relation"]].skip_label_names and r["word"].lower() in names[name])]
    df = pl.DataFrame(rows, schema=RELATIONS_SCHEMA)
    return df.sort("synset", "relation", "depth", "word", "target_synset")


def build_wordnet(*, clips_parquet, label_synsets, relations, source, wordnet: dict, curated_map: str | None) -> None:
    """Rule `wordnet`: clips.parquet labels -> label_synsets.parquet, relations.parquet, source.json."""
    info = ensure_wordnet()
    wn = reader()
    labels = pl.read_parquet(clips_parquet, columns=["labels"])["labels"].explode().drop_nulls().unique().to_list()
    overrides = wordnet["overrides"]
    for label in sorted(set(overrides) - set(labels)):
        log.warning("wordnet.overrides.%s: no clip has this label; the override is unused", label)
    from shard.dataset.corpora import label_maps

    curated = label_maps.resolve(curated_map, labels) if curated_map else {}
    table = map_labels(wn, labels, overrides, curated, curated_map or "")
    rel = build_relations(wn, table, set(wordnet["skip_hypernyms"]), wordnet["max_hypernym_depth"])
    unmapped = table.filter(pl.col("synset").is_null())["label"].to_list()
    log.info("mapped %d of %d labels to WordNet (%d relation rows); unmapped: %s",
             table.height - len(unmapped), table.height, rel.height, unmapped or "none")
    write_parquet(table, label_synsets)
    write_parquet(rel, relations)
    write_json(info, source)
