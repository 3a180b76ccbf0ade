"""Prompts: SHARD items and clips -> instruction prompts in the original and interleaved formats.

Evaluation prompts are one per test item (and one labelling prompt per test clip). Pretraining
prompts (mini_ltu's curriculum: audio labelling and label QA on train clips, text-only WordNet facts)
are written here too, so every prompt the workflow trains or scores on is a file target. Training prompts
are synthesized at scale from the train pool only, column-wise with polars: a *plan* of random draws
(numpy, seeded) is turned into text by vectorised string operations, so a million prompts take
seconds (bench/prompt_synthesis.py compares it with a per-row Python loop over the same plan).
"""
from __future__ import annotations

import functools
import itertools
import logging
from enum import IntEnum

import numpy as np
import polars as pl

from shard.prompts import templates
from shard.dataset.items import unknown_synsets
from shard.dataset.senses import role_of
from shard.common import (SLICE_ROWS, ShardError, collect_streaming as _collect, rng, scan_slices, write_json,
                          write_parquet)

log = logging.getLogger(__name__)

PROMPT_COLUMNS = ["prompt_id", "item_id", "clip_ids", "text", "options", "answer", "answer_index",
                  "task", "relation", "format", "question_format"]
PRETRAIN_COLUMNS = [*PROMPT_COLUMNS, "template_id", "weight"]  # the template each is worded by; its weight in the loss
TRAIN_COLUMNS = ["prompt_id", "clip_ids", "text", "answer", "task", "relation", "format", "question_format"]
# the 24 orders of four mc4 options; drawing one uniformly puts the answer at a uniform position
PERMUTATIONS4 = np.array(list(itertools.permutations(range(4))), dtype=np.int64)


OPEN = "open"  # the question_format of a pretraining fact asked without options


# ---------------------------------------------------------------- evaluation prompts
def _in_format(df: pl.DataFrame, fmt: str) -> pl.DataFrame:
    if fmt == "original":
        df = df.with_columns(pl.col("text").map_elements(templates.to_original, return_dtype=pl.String))
    return df.with_columns(pl.lit(fmt).alias("format")).select(PROMPT_COLUMNS)


def semantic_prompts(test: pl.DataFrame) -> pl.DataFrame:
    """Interleaved SHARD prompts, one per test item (the question keeps its <audio>)."""
    return test.select(
        pl.col("item_id").alias("prompt_id"), "item_id",
        pl.concat_list("clip_id").alias("clip_ids"),
        pl.col("question").alias("text"), "options", "answer", "answer_index",
        pl.lit("semantic").alias("task"), "relation", pl.lit("interleaved").alias("format"),
        pl.col("format").alias("question_format"),
    )


def caption_options(labels) -> list[str]:
    """The options of a caption prompt: each of `labels` as the caption that answers it (templates.caption_answer),
    once, sorted. Every caption prompt of a file offers the same list, so the files keep it in no row (their
    `options` is null): the labelling prompts offer every label of the corpus and the pretraining caption prompts
    every primary label, which `corpus_captions` reads back from clips.parquet."""
    return sorted({templates.caption_answer(label) for label in labels})


def corpus_captions(clips: pl.DataFrame | pl.LazyFrame, column: str = "labels") -> list[str]:
    """caption_options of every label of `clips` (clips.parquet, scanned or read): of its `labels` (what a
    labelling prompt offers) or of its primary `label` (what a pretraining caption prompt offers). Reads the one
    column's distinct values, so memory grows with the labels, not with the clips."""
    clips = clips.lazy()
    name = pl.col(column)
    distinct = name.explode() if isinstance(clips.collect_schema()[column], pl.List) else name
    return caption_options(_collect(clips.select(distinct.unique()))[column].drop_nulls())


def labelling_prompts(clips: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """One caption prompt per test clip, column-wise. Its options are every label of the corpus
    (corpus_captions, the constrained variant's list): `answer_index` points into that list, and `options` is
    null, so the list is not repeated in every row (527 labels x 600,000 clips at AudioSet's size)."""
    clips = clips.lazy()
    options = corpus_captions(clips)
    index = {answer: i for i, answer in enumerate(options)}
    test = _collect(clips.filter(pl.col("split") == "test").select("clip_id", "label")).sort("clip_id")
    answers = {label: templates.caption_answer(label) for label in test["label"].unique()}
    prompt_id = (pl.col("clip_id") + pl.lit(".labelling")).alias("prompt_id")
    return test.select(
        prompt_id, prompt_id.alias("item_id"), pl.concat_list("clip_id").alias("clip_ids"),
        pl.lit(templates.CAPTION.text).alias("text"), pl.lit(None, pl.List(pl.String)).alias("options"),
        answer=pl.col("label").replace_strict(answers, return_dtype=pl.String),
    ).with_columns(
        answer_index=pl.col("answer").replace_strict(index, return_dtype=pl.Int64),
        task=pl.lit("labelling"), relation=pl.lit(None, pl.String), format=pl.lit("interleaved"),
        question_format=pl.lit("caption"))


def build_eval_prompts(*, test, clips_parquet, semantic_original, semantic_interleaved,
                       labelling_original, labelling_interleaved) -> None:
    items = pl.read_parquet(test)
    semantic, labelling = semantic_prompts(items), labelling_prompts(pl.scan_parquet(clips_parquet))
    for df, fmt, path in [(semantic, "original", semantic_original), (semantic, "interleaved", semantic_interleaved),
                          (labelling, "original", labelling_original),
                          (labelling, "interleaved", labelling_interleaved)]:
        out = _in_format(df, fmt)
        write_parquet(out, path)
        log.info("wrote %d %s prompts to %s", out.height, fmt, path)


# ---------------------------------------------------------------- pretraining prompts (mini_ltu)
def _original(text: pl.Expr) -> pl.Expr:
    return text.map_elements(templates.to_original, return_dtype=pl.String)


def audio_pretrain_prompts(clips: pl.DataFrame, seed: int) -> pl.DataFrame:
    """LTU's audio tasks on the train clips, in the original format: a caption prompt per clip, and a label
    question per clip (yes and no alternating over the sorted clips, the wrong label drawn at random). A caption
    prompt's options are every primary label (corpus_captions(clips, "label")): `options` null, `answer_index`
    into that list."""
    train = clips.filter(pl.col("split") == "train").sort("clip_id")
    labels = sorted(set(clips["label"]))
    captions = {caption: i for i, caption in enumerate(caption_options(labels))}
    asked = []
    for i, (cid, label) in enumerate(train.select("clip_id", "label").iter_rows()):
        others = [l for l in labels if l != label]
        wrong = i % 2 and others
        asked.append((others[int(rng(seed, "pretrain", "label_qa", cid).integers(len(others)))] if wrong else label,
                      templates.NO if wrong else templates.YES))
    n = train.height
    caption = pl.DataFrame({
        "prompt_id": [f"{c}.caption" for c in train["clip_id"]], "clip_ids": [[c] for c in train["clip_id"]],
        "text": [templates.to_original(templates.CAPTION.text)] * n,
        "options": pl.Series([None] * n, dtype=pl.List(pl.String)), "template_id": [templates.CAPTION.id] * n,
        "answer": [templates.caption_answer(l) for l in train["label"]], "task": ["labelling"] * n,
        "relation": [None] * n, "question_format": ["caption"] * n,
    }).with_columns(answer_index=pl.col("answer").replace_strict(captions, return_dtype=pl.Int64))
    qa = pl.DataFrame({
        "prompt_id": [f"{c}.label_qa" for c in train["clip_id"]], "clip_ids": [[c] for c in train["clip_id"]],
        "text": [templates.LABEL_QA.text] * n, "template_id": [templates.LABEL_QA.id] * n, "label": [templates.caption_answer(a) for a, _ in asked],
        "options": [[templates.YES, templates.NO]] * n, "answer": [y for _, y in asked], "task": ["label_qa"] * n,
        "relation": [None] * n, "question_format": ["yesno"] * n,
    }).with_columns(text=_original(templates.render(pl.col("text"), label=pl.col("label"))),
                    answer_index=_index_in_options()).drop("label")
    return pl.concat([caption, qa], how="diagonal_relaxed")


def pretrain_labels(label_synsets: pl.DataFrame, fraction: float, seed: int) -> pl.DataFrame:
    """prompts/pretrain_labels.parquet: each label with a synset, its synset, and `known`: whether pretraining
    teaches its facts (the items' unknown_synsets, drawn over the same synsets). The perception table splits its
    rows by it."""
    labels = label_synsets.filter(pl.col("synset").is_not_null()).select("label", "synset").unique().sort("label")
    unknown = sorted(unknown_synsets(labels["synset"], fraction, seed))
    return labels.with_columns(known=~pl.col("synset").is_in(unknown))


def fact_wordings(relation: str, role: str, fmt: str) -> list[templates.Template]:
    """The wordings pretraining gives a fact in: its fact template ("Is dog a kind of canine?"), the
    pretraining-only paraphrases of its question type (templates.pretrain_paraphrases: "What kind of thing is
    making the sound of dog?"), then each paraphrase of the SHARD question of its type but the held-out one
    (templates.held_out_template); a wording with `<audio>` gets the label written as the text oracle writes it
    ("Is the thing making the sound of dog a kind of canine?")."""
    fact = templates.fact_template(relation, fmt)
    shard = templates.semantic_templates(relation, role, fmt)
    held_out = templates.held_out_template(relation, role, fmt).id if shard else None
    return [*([fact] if fact else []), *templates.pretrain_paraphrases(relation, role, fmt),
            *(t for t in shard if t.id != held_out)]


def fact_pretrain_prompts(words: pl.DataFrame, roles: dict[str, str], known: set[str], seed: int) -> pl.DataFrame:
    """Text-only WordNet facts about each label of `known` (words.parquet; `roles`: label -> the role of its
    synset): a yes/no question per (label, word), and per related word a 4-option question (its distractors drawn
    afresh in each wording) and the same question open, without options ("dog is a kind of what?" -> canine),
    both of which teach the label -> word map whatever the options; each in every wording of fact_wordings. The
    options and answers do not depend on `known`.

    No word's answer can be guessed without the label, as in the SHARD items, whose counterbalanced groups ask
    each word of one clip as a yes and of another as a no, and offer each option as the answer of one clip:
    - `weight` (of the prompt's tokens in the loss) makes each word weigh as much as a yes as a no over the known
      labels' yes/no facts of a wording: the rarer answer's facts weigh more (words.parquet has "Is bird a kind of
      vertebrate?" once and vertebrate as a no for ten other labels; a model that learns the word's marginal
      answers the yes item wrong). A weight, not repeated prompts: the same balance without a longer epoch;
    - a 4-way fact's three distractors are drawn from the other labels' related words, each as likely as it is
      an answer, so no option is more often right than another (distractors drawn uniformly from the vocabulary
      make a frequent answer ("device") a good guess)."""
    words = words.sort("label", "relation", "word")
    taught = words.filter(pl.col("label").is_in(sorted(known)))
    rows = [{"label": label, "word": word, "options": [templates.YES, templates.NO],
             "answer": templates.YES if related else templates.NO, "relation": relation, "question_format": "yesno"}
            for label, relation, word, related in taught.select("label", "relation", "word", "related").iter_rows()]
    # distractors come from every label's related words, the unknown labels' too: options do not depend on `known`
    related = words.filter("related")
    related_to = {label: set(g["word"]) for (label,), g in related.group_by("label")}
    answers_of = {relation: g["word"] for (relation,), g in related.group_by("relation")}  # one entry per fact
    pools = {}  # (label, relation) -> the words its 4-way facts' distractors are drawn from, and how often each
    for (label, relation), group in taught.filter("related").group_by(["label", "relation"], maintain_order=True):
        pools[label, relation] = np.unique([w for w in answers_of[relation] if w not in related_to[label]],
                                           return_counts=True)
        for word in group["word"].to_list():
            for fmt in ("mc4", OPEN):  # a 4-way fact's options are drawn per wording, below
                rows.append({"label": label, "word": word, "options": None, "answer": word, "relation": relation,
                             "question_format": fmt})

    def draw_options(label: str, relation: str, word: str, template_id: str) -> list[str]:
        # each wording lists its own distractors: a fact met with one fixed option set was learnt as that set's
        # answer (100% on its own sets) and not as the label's word (48-67% on the items' sets)
        pool, counts = pools[label, relation]
        g = rng(seed, "pretrain", "fact_mc", label, relation, word, template_id)
        picks = g.choice(len(pool), size=min(3, len(pool)), replace=False, p=counts / counts.sum()) if len(pool) else []
        options = [word] + [str(pool[i]) for i in picks]  # fewer than 4 where the corpus has too few labels
        return [options[i] for i in g.permutation(len(options))]
    wordings = [{"label": label, "relation": relation, "question_format": fmt, "template_id": t.id,
                 "template": t.text, "shard_wording": templates.AUDIO in t.text}
                for label, relation, fmt in sorted({(r["label"], r["relation"], r["question_format"]) for r in rows})
                for t in fact_wordings(relation, roles[label], "mc4" if fmt == OPEN else fmt)]
    schema = {"label": pl.String, "relation": pl.String, "question_format": pl.String, "template_id": pl.String,
              "template": pl.String, "shard_wording": pl.Boolean}
    df = pl.DataFrame(rows, schema={"label": pl.String, "word": pl.String, "options": pl.List(pl.String),
                                    "answer": pl.String, "relation": pl.String, "question_format": pl.String}).join(
        pl.DataFrame(wordings, schema=schema), on=["label", "relation", "question_format"], how="inner",
        maintain_order="left")
    df = df.with_columns(options=pl.Series([
        draw_options(label, relation, word, template_id) if fmt == "mc4" else options
        for label, relation, word, template_id, fmt, options in df.select(
            "label", "relation", "word", "template_id", "question_format", "options").iter_rows()],
        dtype=pl.List(pl.String)))
    yesno = pl.col("question_format") == "yesno"
    n_yes = (pl.col("answer") == templates.YES).cast(pl.Int64).sum().over("relation", "word", "template_id")
    n_all = pl.len().over("relation", "word", "template_id").cast(pl.Int64)
    n_same = pl.when(pl.col("answer") == templates.YES).then(n_yes).otherwise(n_all - n_yes)
    # each yes/no fact of the rarer answer of its word weighs as much as the other answer's facts together
    df = df.with_columns(weight=pl.when(yesno).then(
        pl.max_horizontal(pl.lit(1.0), (n_all - n_same) / n_same)).otherwise(pl.lit(1.0)))
    asked = pl.when(yesno).then(pl.col("word")).otherwise(pl.lit(""))  # mc4 lists options
    captions = {label: templates.caption_answer(label) for label in df["label"].unique()}
    listed = pl.when(pl.col("question_format") == "mc4").then(pl.col("options"))
    df = df.with_columns(text=templates.render(pl.col("template"), listed, a=pl.col("label").replace_strict(captions),
                                               b=asked, word=asked))
    # a SHARD wording gets the label exactly as the text_oracle condition writes it in place of the audio
    text = [templates.labels_in_place(t, [[label]]) if shard_wording else t
            for t, label, shard_wording in df.select("text", "label", "shard_wording").iter_rows()]
    return df.select(
        (pl.lit("fact.") + pl.col("label") + "." + pl.col("word") + "." + pl.col("template_id")
         + pl.when(pl.col("question_format") == OPEN).then(pl.lit(".open")).otherwise(pl.lit(""))).alias("prompt_id"),
        pl.lit([], dtype=pl.List(pl.String)).alias("clip_ids"), pl.Series("text", text, dtype=pl.String),
        "options", "answer", pl.lit("fact").alias("task"), "relation", "question_format", "template_id",
        _index_in_options(), "weight")


def _index_in_options() -> pl.Expr:
    """`answer_index`: where each row's answer is in its own `options`."""
    return pl.struct("options", "answer").map_elements(
        lambda r: None if r["options"] is None else r["options"].index(r["answer"]),
        return_dtype=pl.Int64).alias("answer_index")


def build_pretrain_prompts(*, clips_parquet, words, label_synsets, out, labels, seed: int,
                           unknown_label_fraction: float) -> None:
    """Rule `pretrain_prompts`: everything mini_ltu's pretraining sees (train clips only; never a SHARD question
    with audio), and which labels it teaches no fact about (`labels`: prompts/pretrain_labels.parquet)."""
    clips = pl.read_parquet(clips_parquet, columns=["clip_id", "label", "split"])
    if clips.filter(pl.col("split") == "train").is_empty():
        raise ShardError(f"'{clips_parquet}' has no train-split clips: lower clips.test_fraction or use a larger corpus")
    facts, table = pl.read_parquet(words), pl.read_parquet(label_synsets)
    known = pretrain_labels(table, unknown_label_fraction, seed)
    roles = {label: role_of(lexname) for label, lexname in table.select("label", "lexname").iter_rows() if lexname}
    fact_prompts = fact_pretrain_prompts(facts, roles, set(known.filter("known")["label"]), seed)
    df = pl.concat([audio_pretrain_prompts(clips, seed), fact_prompts], how="diagonal_relaxed")
    df = df.with_columns(format=pl.lit("original"), relation=pl.col("relation").cast(pl.String),
                         item_id=pl.col("prompt_id"), weight=pl.col("weight").fill_null(1.0))
    write_parquet(df.select(PRETRAIN_COLUMNS), out)
    write_parquet(known, labels)
    log.info("wrote %d pretraining prompts to %s (by task: %s); %d of %d labels get no fact", df.height, out,
             df.group_by("task").len().sort("task").rows(), known.filter(~pl.col("known")).height, known.height)


# ---------------------------------------------------------------- training prompts
class PromptTask(IntEnum):
    """What a training prompt asks (a plan's `task` codes)."""

    SEMANTIC = 0  # a SHARD question of a pool item
    LABELLING = 1  # a replayed caption prompt
    COMPARE = 2  # two clips: the same thing?


def semantic_templates() -> tuple[list[templates.Template], dict[tuple, tuple[int, int]]]:
    """(the SHARD paraphrases grouped by (relation, role, format), which a plan draws template indices
    into; (relation, role, format) -> its (offset, count) in that list), of the relations registered now."""
    return _semantic_templates(templates.all_templates())


@functools.cache
def _semantic_templates(candidates: tuple[templates.Template, ...]):
    key = lambda t: (t.relation, t.role, t.question_format)  # noqa: E731
    ordered = sorted((t for t in candidates if t.task == "semantic"), key=key)
    spans: dict[tuple, tuple[int, int]] = {}
    for group, members in itertools.groupby(ordered, key=key):
        spans[group] = (sum(n for _, n in spans.values()), len(list(members)))
    return ordered, spans


# what the plan reads of the items it draws, and what the prompts take from them (not the rendered question:
# the prompt renders its own)
PLAN_COLUMNS = ["clip_id", "relation", "source_kind", "format"]
ITEM_COLUMNS = ["relation", "format", "candidate", "options", "answer"]

# the train pool: in memory, or a lazy scan of train_pool.parquet (then only the drawn items are ever read whole)
Pool = pl.DataFrame | pl.LazyFrame


def pool_rows(pool: Pool, rows: np.ndarray, columns: list[str]) -> pl.DataFrame:
    """The pool's rows at positions `rows` (any order, repeats allowed), in that order, with `columns`.

    Read a slice of SLICE_ROWS rows at a time, keeping only the distinct rows asked for, so memory grows with
    len(rows), not with the pool.
    """
    pool, wanted = pool.lazy(), np.unique(rows)
    kept = [pool.select(columns).head(0).collect()]
    for start in np.unique(wanted // SLICE_ROWS) * SLICE_ROWS:
        in_slice = wanted[(wanted >= start) & (wanted < start + SLICE_ROWS)]
        kept.append(_collect(pool.slice(start, SLICE_ROWS).select(columns))[in_slice - start])
    return pl.concat(kept)[np.searchsorted(wanted, rows)]


def _pool_clips(pool: pl.LazyFrame, clips: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """The pool's distinct clips in clip_id order: clip_id, label and `key`, the rank of its sorted label set
    among the pool's label sets (clips with the same labels share a key).

    Sorted, not hashed, and read a slice at a time: a hash table over millions of clip ids took several times
    their bytes (measured), so the pool's distinct ids are sorted once and each slice of clips.parquet finds
    its clips among them by binary search. Strings stay in polars (no Python object per clip).
    """
    ids = pl.concat([_collect(part.select("clip_id").unique()) for part in scan_slices(pool)])["clip_id"].sort()
    ids = ids.filter(ids.ne_missing(ids.shift(1)))  # sorted: each id once, where it changes
    found = []
    for part in scan_slices(clips.lazy()):
        rows = _collect(part.select("clip_id", "label", pl.col("labels").list.sort().list.join("\x1f").alias("key")))
        pos = ids.search_sorted(rows["clip_id"]).clip(0, ids.len() - 1)
        found.append(rows.select(pl.lit(pos).alias("pos"), "label", "key").filter(ids.gather(pos) == rows["clip_id"]))
    found = pl.concat(found).sort("pos")
    if found.height < ids.len():
        raise ShardError("results/shard/train_pool.parquet names clips missing from results/clips/clips.parquet; "
                         "rebuild results/shard/")
    label_sets = found["key"].unique().sort()
    return pl.DataFrame({"clip_id": ids, "label": found["label"],
                         "key": label_sets.search_sorted(found["key"]).cast(pl.Int64)})


def plan_train_prompts(pool: Pool, clips: pl.DataFrame | pl.LazyFrame, n: int, *, seed: int,
                       replay_fraction: float, multi_clip_fraction: float) -> dict[str, np.ndarray | pl.Series]:
    """All random draws for `n` training prompts, as arrays (no text yet): indices into the pool's items
    (`item`) and into its distinct clips (`clip`, `clip2`), whose ids and labels come along as polars Series
    (`clip_ids`, `clip_labels`).

    Each SHARD prompt takes a pool item (its candidate word and answer stay together), then redraws
    the clip among the pool's clips with the same *set* of labels (so the answer stays right on
    multi-label corpora too), the template among the paraphrases of its (relation, role, format),
    and the order of mc4 options. `clips` gives each clip's labels (clips.parquet).

    Memory: the pool's distinct clips (each clip's id, label and label-set rank: the clip redraw needs them)
    and the `n` drawn items; the pool's items are counted and checked a slice at a time, never held.
    """
    pool = pool.lazy()
    height = _collect(pool.select(pl.len())).item()
    if not height:
        raise ShardError("results/shard/train_pool.parquet is empty: no training prompts can be drawn; "
                         "lower clips.test_fraction or use a larger corpus")
    g = rng(seed, "train_prompts", n)
    pool_clips = _pool_clips(pool, clips)
    keys = pool_clips["key"].to_numpy()
    key_order = np.argsort(keys, kind="stable")
    first, count = np.unique(keys[key_order], return_index=True, return_counts=True)[1:]
    n_keys = len(count)
    clip_keys = pool_clips.select("clip_id", "key")
    spans = pl.DataFrame([(*k, o, c) for k, (o, c) in semantic_templates()[1].items()], orient="row",
                         schema={"relation": pl.String, "source_kind": pl.String, "format": pl.String,
                                 "t_off": pl.Int64, "t_cnt": pl.Int64})
    unasked = pl.concat([_collect(part.select("relation", "source_kind", "format").unique())
                         for part in scan_slices(pool)]).unique().join(
        spans, on=["relation", "source_kind", "format"], how="anti").sort(pl.all())
    if unasked.height:
        raise ShardError(f"results/shard/train_pool.parquet has items of a (relation, role, format) no template "
                         f"asks: {unasked.row(0)}; rebuild results/shard/")

    u = g.random(n)
    task = np.where(u < replay_fraction, PromptTask.LABELLING,
                    np.where(u < replay_fraction + multi_clip_fraction, PromptTask.COMPARE, PromptTask.SEMANTIC))
    item = g.integers(0, height, n)
    # per drawn item, its clip's label-set key and its template span: joins, not a Python object per item
    drawn = pool_rows(pool, item, PLAN_COLUMNS).join(clip_keys, on="clip_id", how="left", maintain_order="left").join(
        spans, on=["relation", "source_kind", "format"], how="left", maintain_order="left")
    key, t_off, t_cnt = (drawn[c].to_numpy() for c in ("key", "t_off", "t_cnt"))
    clip = key_order[first[key] + (g.random(n) * count[key]).astype(np.int64)]
    template = t_off + (g.random(n) * t_cnt).astype(np.int64)
    perm = g.integers(0, len(PERMUTATIONS4), n)
    # a second clip for two-clip prompts: one with the same labels half of the time
    same = g.random(n) < 0.5
    other = np.where(same, key, (key + 1 + (g.random(n) * max(n_keys - 1, 1)).astype(np.int64)) % n_keys)
    clip2 = key_order[first[other] + (g.random(n) * count[other]).astype(np.int64)]
    same = same | (other == key)
    return {"task": task, "item": item, "clip": clip, "template": template, "perm": perm,
            "clip2": clip2, "same": same, "clip_ids": pool_clips["clip_id"], "clip_labels": pool_clips["label"]}


def assemble_train_prompts(pool: Pool, plan: dict[str, np.ndarray | pl.Series], prefix: str) -> pl.DataFrame:
    """Turn a plan into prompt rows, column-wise (reading only the drawn items of the pool)."""
    n = len(plan["item"])
    items = pool_rows(pool, plan["item"], ITEM_COLUMNS)
    perm_rows = pl.Series("perm", PERMUTATIONS4[plan["perm"]]).cast(pl.List(pl.Int64))
    df = items.with_columns(
        pl.Series("template", [t.text for t in semantic_templates()[0]]).gather(plan["template"]),
        perm_rows,
        pl.Series("clip", plan["clip_ids"][plan["clip"]]),
        pl.Series("clip2", plan["clip_ids"][plan["clip2"]]),
        pl.Series("task", plan["task"]),
        pl.Series("same", plan["same"]),
        pl.Series("label", plan["clip_labels"][plan["clip"]]),
    )
    captions = {l: templates.caption_answer(l) for l in plan["clip_labels"].unique()}
    is_mc = pl.col("format") == "mc4"
    options = pl.when(is_mc).then(pl.col("options").list.gather(pl.col("perm"))).otherwise(pl.col("options"))
    shard_text = templates.render(pl.col("template"), pl.when(is_mc).then(options), word=pl.col("candidate"))
    task = pl.col("task")
    semantic, labelling = task == PromptTask.SEMANTIC, task == PromptTask.LABELLING
    out = df.select(
        (pl.lit(f"{prefix}-") + pl.int_range(n, dtype=pl.Int64).cast(pl.String).str.zfill(7)).alias("prompt_id"),
        pl.when(task == PromptTask.COMPARE).then(pl.concat_list("clip", "clip2")).otherwise(pl.concat_list("clip")).alias("clip_ids"),
        pl.when(semantic).then(shard_text)
          .when(labelling).then(pl.lit(templates.CAPTION.text))
          .otherwise(pl.lit(templates.COMPARE.text)).alias("text"),
        pl.when(semantic).then(pl.col("answer"))
          .when(labelling).then(pl.col("label").replace_strict(captions))
          .otherwise(pl.when(pl.col("same")).then(pl.lit(templates.YES)).otherwise(pl.lit(templates.NO)))
          .alias("answer"),
        pl.when(semantic).then(pl.lit("semantic")).when(labelling).then(pl.lit("labelling"))
          .otherwise(pl.lit("compare")).alias("task"),
        pl.when(semantic).then(pl.col("relation")).otherwise(pl.lit(None, pl.String)).alias("relation"),
        pl.lit("interleaved").alias("format"),
        pl.when(semantic).then(pl.col("format")).when(labelling).then(pl.lit("caption"))
          .otherwise(pl.lit("yesno")).alias("question_format"),
    )
    return out


def build_train_prompts(*, train_pool, clips_parquet, out, n, seed, replay_fraction, multi_clip_fraction,
                        name) -> None:
    """Rule `train_prompts`: `n` training prompts drawn from the train pool. The pool is scanned, never read
    whole: memory grows with `n` and the pool's clips, not with its items."""
    pool = pl.scan_parquet(train_pool)
    clips = pl.scan_parquet(clips_parquet)
    plan = plan_train_prompts(pool, clips, int(n), seed=seed, replay_fraction=replay_fraction,
                              multi_clip_fraction=multi_clip_fraction)
    df = assemble_train_prompts(pool, plan, prefix=name)
    write_parquet(df, out)
    counts = df.group_by("task").len().sort("task").rows()
    log.info("wrote %d training prompts to %s (by task: %s)", df.height, out, counts)


# ---------------------------------------------------------------- leakage audit
def _clips_used(path) -> pl.LazyFrame:
    return pl.scan_parquet(path).select(pl.col("clip_ids").explode().alias("clip_id")).unique()


def leakage_audit(*, test, clips_parquet, label_synsets, train, pretrain, report, synset_disjoint) -> None:
    """Fail if a test clip (or, when synset-disjoint, a test synset) appears in any training prompt, or a test clip
    in mini_ltu's pretraining prompts (`pretrain`: its facts are text and name no clip; its audio prompts label
    every train clip, of any synset, as LTU's pretraining does). Every check is a polars join over the few columns
    it needs: memory grows with the test clips' ids, not with whole tables."""
    clips = pl.scan_parquet(clips_parquet).select("clip_id", "label", "split")
    # every test-split clip, not only those with SHARD items: the labelling evaluation uses them all
    test_clips = clips.filter(pl.col("split") == "test").select("clip_id")
    test_synsets = pl.scan_parquet(test).select("synset").unique()
    synsets = pl.scan_parquet(label_synsets).select("label", "synset")
    findings = {}
    for path, check_synsets in [*((p, synset_disjoint) for p in train), (pretrain, False)]:
        used = _clips_used(path)
        leaked = used.join(test_clips, on="clip_id").sort("clip_id").collect()["clip_id"].to_list()
        leaked_synsets = (used.join(clips, on="clip_id").join(synsets, on="label").select("synset")
                          .join(test_synsets, on="synset").unique().sort("synset").collect()["synset"].to_list()
                          if check_synsets else [])
        findings[str(path)] = {"test_clips": leaked, "test_synsets": leaked_synsets}
    bad = {p: f for p, f in findings.items() if f["test_clips"] or f["test_synsets"]}
    if bad:
        path, f = next(iter(bad.items()))
        raise ShardError(f"leakage: training prompts {path} use {len(f['test_clips'])} test clips "
                         f"(e.g. {f['test_clips'][:3]}) and {len(f['test_synsets'])} test synsets "
                         f"(e.g. {f['test_synsets'][:3]}); rebuild results/shard/ and results/prompts/")
    write_json({"ok": True, "checked": sorted(findings), "synset_disjoint": synset_disjoint,
                "test_clips": test_clips.select(pl.len()).collect().item(),
                "test_synsets": test_synsets.select(pl.len()).collect().item()}, report)
    log.info("leakage audit passed for %d training sets", len(findings))
