"""The SHARD dataset card (shard/card.md): what was built, from what, and how balanced it is.

Byte-deterministic: no timestamps, every table sorted, examples picked by seed.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from shard.common import ShardError, collect_streaming as _collect, config_hash, rng, scan_slices, write_text
from shard.dataset.items import MISSING_SCHEMA, SLOTS_SCHEMA
from shard.markdown import markdown_table
from shard.dataset.vocabulary import WORD_COUNTS_SCHEMA

PRETRAINING = (
    "What the base model saw in pretraining: audio labelling and label yes/no QA (\"Is <audio> the "
    "sound of {label}?\") in the original format (audio first), plus text-only WordNet facts from "
    "`words.parquet` (relation statements about each label's synset, with at least as many unrelated "
    "words as related ones); never a SHARD question with audio. Whether it connects what it hears "
    "to what it knows is what this benchmark measures."
)


# what the card counts of the items (never their questions and options, most of their bytes)
POOL_COLUMNS = ["clip_id", "label", "synset", "relation", "format", "answer", "answer_index"]
# what the examples show
EXAMPLE_COLUMNS = ["relation", "format", "label", "question", "answer"]


def _count(items: pl.LazyFrame) -> int:
    return _collect(items.select(pl.len())).item()


def _clip_count(items: pl.LazyFrame) -> int:
    # a hash set of the distinct clip ids: memory per clip, not per item
    return _collect(items.select(pl.col("clip_id").n_unique())).item()


def _counts(items: pl.LazyFrame, by: list[str]) -> pl.DataFrame:
    return _collect(items.group_by(by).len("items").sort(by))


def _yes_balance(items: pl.LazyFrame) -> pl.DataFrame:
    yesno = items.filter(pl.col("format") == "yesno")
    return _collect(yesno.group_by("relation")
                    .agg(pl.len().alias("items"), (pl.col("answer") == "yes").sum().alias("yes"))
                    .with_columns(no=pl.col("items") - pl.col("yes"),
                                  yes_pct=(100 * pl.col("yes") / pl.col("items")).round(1))
                    .sort("relation"))


def _position_balance(items: pl.LazyFrame) -> pl.DataFrame:
    mc = items.filter(pl.col("format") == "mc4")
    return _collect(mc.group_by("relation")
                    .agg(*[(pl.col("answer_index") == i).sum().alias(f"pos{i}") for i in range(4)],
                         pl.len().alias("items"))
                    .sort("relation"))


def _examples(items: pl.LazyFrame, seed: int) -> pl.DataFrame:
    """Three items per (relation, format), picked by seed among the group's items in item_id order.

    The items are sorted by item_id (build_items writes them so; checked here), so a group's k-th item in
    item_id order is its k-th in the file: one pass, a slice at a time, finds the picks without holding a
    group's ids."""
    sizes = _counts(items, ["relation", "format"]).rows()
    wanted = {(r, f): sorted(rng(seed, "card", r, f).permutation(n)[:3].tolist()) for r, f, n in sizes}
    seen = dict.fromkeys(wanted, 0)
    picked, last = [items.select("item_id", *EXAMPLE_COLUMNS).head(0).collect()], None
    for part in scan_slices(items.select("item_id", *EXAMPLE_COLUMNS)):
        rows = _collect(part)
        if not rows["item_id"].is_sorted() or (last is not None and rows.height and rows["item_id"][0] < last):
            raise ShardError("the items are not sorted by item_id; rebuild results/shard/")
        last = rows["item_id"][-1] if rows.height else last
        for (relation, fmt), picks in wanted.items():
            group = rows.filter((pl.col("relation") == relation) & (pl.col("format") == fmt))
            start, seen[relation, fmt] = seen[relation, fmt], seen[relation, fmt] + group.height
            in_slice = [k - start for k in picks if start <= k < start + group.height]
            picked.append(group[np.array(in_slice, dtype=np.int64)])
    return pl.concat(picked).sort("relation", "format", "item_id").select(EXAMPLE_COLUMNS)


def _per_relation(both: pl.LazyFrame, missing: pl.DataFrame, relations: list[str]) -> pl.DataFrame:
    """Items (test, train pool) and labels with and without any, per configured relation, in config order."""
    counts = _collect(both.group_by("relation").agg(
        (pl.col("part") == "test").sum().cast(pl.Int64).alias("test"),
        (pl.col("part") == "train_pool").sum().cast(pl.Int64).alias("train_pool"),
        pl.col("label").n_unique().cast(pl.Int64).alias("labels_with_items")))
    without = missing.group_by("relation").agg(pl.len().cast(pl.Int64).alias("labels_without"))
    return (pl.DataFrame({"relation": relations}, schema={"relation": pl.String})
            .join(counts, on="relation", how="left", maintain_order="left")
            .join(without, on="relation", how="left", maintain_order="left")
            .fill_null(0))


Items = pl.DataFrame | pl.LazyFrame


def render_card(*, test: Items, pool: Items, words: Items, label_synsets: pl.DataFrame,
                source: dict, config: dict, summary: dict, artifacts: str) -> str:
    """The card's Markdown; `summary` is the items stage's summary.json (shard.dataset.items.build_items).

    The items and words may be lazy scans (rule `shard_card` scans the parquet files): every table of them is a
    streaming count and the examples are found a slice at a time, so memory does not grow with the items,
    only with the distinct clips (the clip counts)."""
    test, pool = test.lazy(), pool.lazy()
    seed = int(config["seed"])
    min_zipf = config["shard"]["min_zipf"]
    stats, threshold = summary["clips"], summary["words"]
    missing = pl.DataFrame(summary["labels_without_items"], schema=MISSING_SCHEMA)
    word_counts = pl.DataFrame(threshold["per_relation"], schema=WORD_COUNTS_SCHEMA)
    both = pl.concat([test.select(POOL_COLUMNS).with_columns(part=pl.lit("test")),
                      pool.select(POOL_COLUMNS).with_columns(part=pl.lit("train_pool"))])
    items_per_label = _collect(both.group_by("label", "synset").agg(
        (pl.col("part") == "test").sum().alias("test"), (pl.col("part") == "train_pool").sum().alias("train_pool"))
        .sort("label"))
    mapped = label_synsets.filter(pl.col("synset").is_not_null())
    unmapped = label_synsets.filter(pl.col("synset").is_null())
    skipped = dict(stats.get("unmapped_clips", []))
    out = ["# SHARD dataset card\n",
           "Synonym and Hypernym Audio Reasoning Dataset: each item pairs a clip with a question about "
           "a WordNet relation of what is sounding.\n",
           "## Provenance\n",
           f"- WordNet {source['version']} ({source['origin']}), sha1(data.noun) = `{source['checksum']}`",
           f"- config hash `{config_hash(config)}`, seed {seed}",
           f"- clips read: {stats.get('clips', 0)}; skipped for an unmapped label: {sum(skipped.values())}"
           + (f"; dropped to keep train pool and test synset-disjoint: {stats.get('dropped_disjoint', 0)}"
              if stats.get("synset_side") else ""),
           f"- items: {_count(test)} test ({_clip_count(test)} clips), {_count(pool)} train pool "
           f"({_clip_count(pool)} clips); word facts: {_count(words.lazy())}",
           f"- words people know: {threshold['left_out']} relation words rarer than Zipf {min_zipf} (wordfreq) left out "
           f"({threshold['left_out_distinct']} distinct); {threshold['kept']} kept, {threshold['kept_though_rarer']} "
           f"of them rarer but the only word of their synset and relation\n",
           "## Items per relation\n", markdown_table(_per_relation(both, missing, config["shard"]["relations"])),
           "## Labels without items, per relation\n",
           "A mapped label with no item of a relation, and why.\n",
           markdown_table(missing),
           "## Items per relation and format\n", markdown_table(_counts(both, ["part", "relation", "format"])),
           "## Counterbalanced groups\n",
           "Each question text is asked of clips it is right for and of clips it is wrong for in equal measure (a "
           "yes/no text of one clip each; an mc4 text of four clips of mutually unrelated labels, each option the "
           "answer once), so the text alone answers no item better than chance. A clip's item slot that no group "
           "could take (too few unrelated clips of its role) is left over.\n",
           markdown_table(pl.DataFrame(summary.get("slots_left", []), schema=SLOTS_SCHEMA)),
           "## Items per label\n",
           markdown_table(items_per_label),
           f"## Relation words and the Zipf threshold ({min_zipf})\n", markdown_table(word_counts),
           "## Yes/no answer balance (test)\n", markdown_table(_yes_balance(test)),
           "## Yes/no answer balance (train pool)\n", markdown_table(_yes_balance(pool)),
           "## mc4 answer position (test)\n", markdown_table(_position_balance(test)),
           "## mc4 answer position (train pool)\n", markdown_table(_position_balance(pool)),
           "## Label to synset\n", markdown_table(mapped.select("label", "synset", "method", "lexname", "gloss").sort("label")),
           "## Unmapped labels\n",
           markdown_table(unmapped.select("label", "reason").with_columns(
               clips_skipped=pl.col("label").replace_strict(skipped, default=0, return_dtype=pl.Int64)).sort("label")),
           ]
    if stats.get("synset_side"):
        side = pl.DataFrame(sorted(stats["synset_side"].items()), schema=["synset", "side"], orient="row")
        out += ["## Synset-disjoint assignment\n", markdown_table(side)]
    out += ["## Surface-cue baselines (test)\n",
            "Text-only guesses (no audio) that must sit at chance; the same table as `tables/artifacts.md`.\n",
            artifacts.rstrip("\n") + "\n",
            "## Examples (test)\n", markdown_table(_examples(test, seed)),
            "## What the base model saw in pretraining\n", PRETRAINING + "\n",
            "## Config\n", "```yaml\n" + yaml.safe_dump(config, sort_keys=True, default_flow_style=False) + "```\n"]
    return "\n".join(out)


def build_card(*, test, train_pool, words, summary, label_synsets, wordnet_source, artifacts, card, config: dict) -> None:
    """Rule `shard_card`: shard/card.md, from the items, the words, the items stage's summary.json, the label
    map, the WordNet source and the surface-cue table (tables/artifacts.md, included as it is)."""
    write_text(render_card(test=pl.scan_parquet(test), pool=pl.scan_parquet(train_pool),
                           words=pl.scan_parquet(words), label_synsets=pl.read_parquet(label_synsets), source=json.loads(Path(wordnet_source).read_text()),
                           config=config, summary=json.loads(Path(summary).read_text()),
                           artifacts=Path(artifacts).read_text()), card)
