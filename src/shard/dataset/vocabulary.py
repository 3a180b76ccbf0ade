"""Words people know: WordNet lemmas rarer than `shard.min_zipf` (wordfreq) are neither asked about nor
offered, unless no other word of their synset and relation remains."""
from __future__ import annotations

import polars as pl

from shard.dataset import surface

WORD_COUNTS_SCHEMA = {"relation": pl.String, "kept": pl.Int64, "left_out": pl.Int64, "kept_though_rarer": pl.Int64}


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


def usable_relations(wn, relations, shard: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(kept, removed) rows of relations.parquet for the configured relations, split at shard.min_zipf."""
    rel = pl.read_parquet(relations).filter(pl.col("relation").is_in(shard["relations"]))
    return common_words(wn, rel, shard["min_zipf"])


def word_counts(kept: pl.DataFrame, removed: pl.DataFrame, min_zipf: float) -> pl.DataFrame:
    """Relation words per relation: kept, left out as rarer than min_zipf, kept though rarer (the only word left)."""
    counts = lambda df, name: df.group_by("relation").agg(pl.len().alias(name))  # noqa: E731
    out = (counts(kept, "kept").join(counts(removed, "left_out"), on="relation", how="full", coalesce=True)
           .join(counts(kept.filter(pl.col("zipf") < min_zipf), "kept_though_rarer"), on="relation", how="full", coalesce=True))
    return out.fill_null(0).sort("relation").cast(WORD_COUNTS_SCHEMA)


def threshold_summary(kept: pl.DataFrame, removed: pl.DataFrame, min_zipf: float) -> dict:
    """What the dataset card says of the threshold: relation words kept (and of them rarer, the only word
    left), left out (rows and distinct words), and those counts per relation (word_counts)."""
    return {"kept": kept.height, "kept_though_rarer": kept.filter(pl.col("zipf") < min_zipf).height,
            "left_out": removed.height, "left_out_distinct": removed["word"].n_unique(),
            "per_relation": word_counts(kept, removed, min_zipf).to_dicts()}
