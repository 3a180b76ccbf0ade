"""Every piece of instruction text the workflow writes, in one place.

SHARD questions carry an `<audio>` placeholder and a `{word}` slot; their texts, and the text-only facts of
base-model pretraining, are those of the relation records (shard.dataset.relations). Which of a relation's
questions apply depends on the role of the clip's synset: the sound's source or the sound itself
(shard.dataset.senses.role_of).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import polars as pl

from shard.dataset.relations import RELATIONS, Relation

AUDIO = "<audio>"
YES, NO = "yes", "no"
QUESTION_FORMATS = ("yesno", "mc4")


# ---------------------------------------------------------------- the one list of instruction templates
@dataclass(frozen=True)
class Template:
    """One instruction text. `task`: semantic (a SHARD question), labelling (caption), label_qa and fact
    (base-model pretraining only), compare (training only). Slots: {word}, {label}, {a}, {b}."""

    id: str
    task: str
    text: str
    relation: str | None = None
    role: str | None = None  # semantic: the role of clip it is worded for (shard.dataset.relations.ROLES)
    question_format: str | None = None  # yesno | mc4 | caption


CAPTION = Template("caption", "labelling", "Write an audio caption describing <audio>.", question_format="caption")
# base-model pretraining only: is the clip a given label (never a SHARD relation)
LABEL_QA = Template("label_qa", "label_qa", "Is <audio> the sound of {label}?", question_format="yesno")
# training only: a two-clip interleaved question (answer yes when both clips share a label)
COMPARE = Template("compare", "compare", "Are <audio> and <audio> sounds of the same thing?", question_format="yesno")


def all_templates() -> tuple[Template, ...]:
    """Every template, of the relations registered now: each relation's questions (id
    f"{relation}.{role}.{format}.{i}"), then caption, label QA and compare, then each relation's facts
    (id f"fact.{relation}.{format}") and its pretraining-only wordings (task "fact", id
    f"paraphrase.{relation}.{role}.{format}.{i}"); question format first, then registration order."""
    return _templates(tuple(RELATIONS.values()))


def _question_templates(relations: tuple[Relation, ...], field: str, prefix: str, task: str):
    """The templates of each relation's (role, format) -> paraphrases record `field` (questions or
    pretrain_questions), id f"{prefix}{relation}.{role}.{format}.{i}"; question format first."""
    return (Template(f"{prefix}{r.name}.{role}.{fmt}.{i}", task, text, r.name, role, fmt)
            for fmt in QUESTION_FORMATS for r in relations for (role, question_format), texts in getattr(r, field).items()
            if question_format == fmt for i, text in enumerate(texts))


@functools.cache
def _templates(relations: tuple[Relation, ...]) -> tuple[Template, ...]:
    return (
        *_question_templates(relations, "questions", "", "semantic"),
        CAPTION, LABEL_QA, COMPARE,
        *(Template(f"fact.{r.name}.{fmt}", "fact", r.facts[fmt], r.name, None, fmt)
          for fmt in QUESTION_FORMATS for r in relations if fmt in r.facts),
        *_question_templates(relations, "pretrain_questions", "paraphrase.", "fact"),
    )


def by_id(template_id: str) -> Template:
    return _by_id(all_templates())[template_id]


@functools.cache
def _by_id(templates: tuple[Template, ...]) -> dict[str, Template]:
    return {t.id: t for t in templates}


def _of_type(prefix: str, task: str, relation: str, role: str, fmt: str) -> list[Template]:
    return [t for t in all_templates() if t.task == task and t.id.startswith(prefix)
            and (t.relation, t.role, t.question_format) == (relation, role, fmt)]


def semantic_templates(relation: str, role: str, fmt: str) -> list[Template]:
    """The paraphrases of one SHARD question type, in id order."""
    return _of_type("", "semantic", relation, role, fmt)


def held_out_template(relation: str, role: str, fmt: str) -> Template:
    """The paraphrase of a SHARD question type that mini_ltu's pretraining never writes a fact in: the last one,
    a fixed index (not a draw), so every seed, corpus and model holds out the same wording and each is the
    paraphrase worded furthest from the fact template (the first mirrors it). The text oracle is scored on
    it apart (tables/perception): whether the knowledge transfers to a wording it never saw."""
    return semantic_templates(relation, role, fmt)[-1]


def is_held_out(template_id: str) -> bool:
    t = by_id(template_id)
    return t.task == "semantic" and held_out_template(t.relation, t.role, t.question_format).id == template_id


def fact_template(relation: str, fmt: str) -> Template | None:
    return _by_id(all_templates()).get(f"fact.{relation}.{fmt}")


def pretrain_paraphrases(relation: str, role: str, fmt: str) -> list[Template]:
    """The pretraining-only wordings of a SHARD question type (Relation.pretrain_questions), in id order."""
    return _of_type("paraphrase.", "fact", relation, role, fmt)


def tokenizer_texts(relations=()) -> list[str]:
    """Every template text of the relations every tokenizer learns (Relation.in_tokenizer), of `relations`
    (a run's) and of no relation, and its original-format form where it has one clip: what a tokenizer
    must know."""
    known = {*(r.name for r in RELATIONS.values() if r.in_tokenizer), *relations}
    out = []
    for t in all_templates():
        if t.relation is not None and t.relation not in known:
            continue
        out.append(t.text)
        if t.text.count(AUDIO) == 1:
            out.append(to_original(t.text))
    return out


# ---------------------------------------------------------------- the one renderer of instruction text
MC_OPTIONS_PREFIX, MC_OPTIONS_SEP, MC_OPTIONS_END = " Options: ", ", ", "."


def render(template: pl.Expr, options: pl.Expr | None = None, **slots: pl.Expr) -> pl.Expr:
    """Instruction text, column-wise: fill each `{slot}` of `template` and append the options list where
    `options` is not null (mc4 questions). Items, training prompts and pretraining prompts all use it."""
    out = template
    for name, value in slots.items():
        out = out.str.replace("{" + name + "}", value, literal=True)
    if options is not None:
        suffix = pl.lit(MC_OPTIONS_PREFIX) + options.list.join(MC_OPTIONS_SEP) + pl.lit(MC_OPTIONS_END)
        out = out + pl.when(options.is_not_null()).then(suffix).otherwise(pl.lit(""))
    return out


def render_one(text: str, options: list[str] | None = None, **slots: str) -> str:
    """`render` for one string (tests, benchmarks)."""
    df = pl.DataFrame({"t": [text], "o": [options], **{k: [v] for k, v in slots.items()}},
                      schema_overrides={"o": pl.List(pl.String)})
    return df.select(render(pl.col("t"), pl.col("o"), **{k: pl.col(k) for k in slots}))["t"][0]


# ---------------------------------------------------------------- original (LTU) format
def to_original(text: str) -> str:
    """Rewrite an interleaved prompt for the original format: the audio block first, the text
    referring to "the sound" (LTU style). One placeholder only: LTU feeds one clip per prompt."""
    if text.count(AUDIO) != 1:
        raise ValueError(f"the original format takes exactly one {AUDIO}: {text!r}")
    body = text.replace(AUDIO, "the sound")
    body = re.sub(r"^the sound", "The sound", body)
    return AUDIO + body


# ---------------------------------------------------------------- audio labelling (LTU's protocol)
def caption_answer(label: str) -> str:
    """The caption a labelling prompt is trained to produce, and what the evaluation embeds."""
    return label.lower()


def sound_of(text: str) -> str:
    """The sentence the labelling evaluation embeds for a caption or a label (LTU's protocol)."""
    return f"sound of {text}"


def label_as_text(labels) -> str:
    """What the text_oracle controls write in a clip's `<audio>` slot: its labels, phrased as the labelling
    protocol phrases them ("the sound of dog")."""
    return "the " + sound_of(" and ".join(caption_answer(label) for label in labels))


def labels_in_place(text: str, clip_labels) -> str:
    """`text` with its k-th `<audio>` replaced by label_as_text of the k-th clip's labels."""
    pieces = text.split(AUDIO)
    if len(pieces) - 1 != len(clip_labels):
        raise ValueError(f"{len(pieces) - 1} {AUDIO} placeholder(s) but {len(clip_labels)} clip(s) in {text!r}")
    return pieces[0] + "".join(label_as_text(labels) + piece for labels, piece in zip(clip_labels, pieces[1:]))


# LTU's instruction wrapper (the backend applies it; prompts files hold the bare instruction)
LTU_PROMPT = "### Instruction:\n{instruction}\n\n### Response:\n"
