"""Every piece of instruction text the workflow writes, in one place.

SHARD questions carry an `<audio>` placeholder and a `{word}` slot. Which templates apply depends on
what the clip's synset names: a sound *source* (noun.animal, noun.artifact, noun.person, ...) or a
sound / event itself (noun.event, noun.phenomenon, noun.act, noun.communication, ...).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

AUDIO = "<audio>"
YES, NO = "yes", "no"

EVENT_LEXNAMES = {"noun.event", "noun.phenomenon", "noun.act", "noun.communication",
                  "noun.process", "noun.state", "noun.attribute", "noun.time"}


def source_kind(lexname: str) -> str:
    """'event' when the synset names the sound itself, else 'source' (the thing making it)."""
    return "event" if lexname in EVENT_LEXNAMES else "source"


# ---------------------------------------------------------------- the one list of instruction templates
@dataclass(frozen=True)
class Template:
    """One instruction text. `task`: semantic (a SHARD question), labelling (caption), label_qa and fact
    (base-model pretraining only), compare (training only). Slots: {word}, {label}, {a}, {b}."""

    id: str
    task: str
    text: str
    relation: str | None = None
    source_kind: str | None = None
    question_format: str | None = None  # yesno | mc4 | caption


# SHARD questions: (relation, source_kind, question format) -> paraphrases; id = f"{relation}.{kind}.{fmt}.{i}"
_SEMANTIC: dict[tuple[str, str, str], list[str]] = {
    ("synonym", "source", "yesno"): [
        "Is the thing making <audio> also called {word}?",
        "Could the source of <audio> be called {word}?",
        "Is <audio> made by something also known as {word}?",
    ],
    ("synonym", "event", "yesno"): [
        "Is <audio> also called {word}?",
        "Could <audio> be described as {word}?",
        "Is another name for <audio> {word}?",
    ],
    ("hypernym", "source", "yesno"): [
        "Is the thing making <audio> a kind of {word}?",
        "Is the source of <audio> a type of {word}?",
        "Does <audio> come from some kind of {word}?",
    ],
    ("hypernym", "event", "yesno"): [
        "Is <audio> a kind of {word}?",
        "Is <audio> a type of {word}?",
        "Would you class <audio> as a kind of {word}?",
    ],
    ("hyponym", "source", "yesno"): [
        "Is {word} a kind of the thing making <audio>?",
        "Is {word} a special type of the source of <audio>?",
    ],
    ("hyponym", "event", "yesno"): [
        "Is {word} a kind of <audio>?",
        "Is {word} a special type of <audio>?",
    ],
    ("cohyponym", "source", "yesno"): [
        "Is the thing making <audio> a sibling kind of {word}?",
        "Do the source of <audio> and {word} belong to the same kind?",
    ],
    ("cohyponym", "event", "yesno"): [
        "Is <audio> a sibling kind of {word}?",
        "Do <audio> and {word} belong to the same kind?",
    ],
    # two hops up: worded apart from the one-hop hypernym, so the table's column means what it says
    ("hypernym2", "source", "yesno"): [
        "Is the thing making <audio> a kind of something that is a kind of {word}?",
        "Is the source of <audio> a type of a type of {word}?",
    ],
    ("hypernym2", "event", "yesno"): [
        "Is <audio> a kind of something that is a kind of {word}?",
        "Is <audio> a type of a type of {word}?",
    ],
    # parts: asked of sources only (a sound has no parts)
    ("meronym", "source", "yesno"): [
        "Does the thing making <audio> have a part called {word}?",
        "Is {word} a part of the source of <audio>?",
    ],
    ("synonym", "source", "mc4"): [
        "Which word is another name for the thing making <audio>?",
        "What else is the source of <audio> called?",
    ],
    ("synonym", "event", "mc4"): [
        "Which word is another name for <audio>?",
        "What else is <audio> called?",
    ],
    ("hypernym", "source", "mc4"): [
        "The thing making <audio> is a kind of what?",
        "Which of these is the source of <audio> a type of?",
    ],
    ("hypernym", "event", "mc4"): [
        "<audio> is a kind of what?",
        "Which of these is <audio> a type of?",
    ],
    ("hyponym", "source", "mc4"): ["Which of these is a kind of the thing making <audio>?"],
    ("hyponym", "event", "mc4"): ["Which of these is a kind of <audio>?"],
    ("cohyponym", "source", "mc4"): ["Which of these is a sibling kind of the thing making <audio>?"],
    ("cohyponym", "event", "mc4"): ["Which of these is a sibling kind of <audio>?"],
    ("hypernym2", "source", "mc4"): ["The thing making <audio> is a kind of something that is a kind of what?"],
    ("hypernym2", "event", "mc4"): ["<audio> is a kind of something that is a kind of what?"],
    ("meronym", "source", "mc4"): ["Which of these is a part of the thing making <audio>?"],
}
CAPTION = Template("caption", "labelling", "Write an audio caption describing <audio>.", question_format="caption")
# base-model pretraining only: is the clip a given label (never a SHARD relation)
LABEL_QA = Template("label_qa", "label_qa", "Is <audio> the sound of {label}?", question_format="yesno")
# training only: a two-clip interleaved question (answer yes when both clips share a label)
COMPARE = Template("compare", "compare", "Are <audio> and <audio> sounds of the same thing?", question_format="yesno")
# base-model pretraining only: text-only WordNet facts, {a} the label, {b} the related word
_FACTS = {
    ("synonym", "yesno"): "Is {a} also called {b}?",
    ("hypernym", "yesno"): "Is {a} a kind of {b}?",
    ("hyponym", "yesno"): "Is {b} a kind of {a}?",
    ("cohyponym", "yesno"): "Are {a} and {b} sibling kinds?",
    ("synonym", "mc4"): "Which word is another name for {a}?",
    ("hypernym", "mc4"): "{a} is a kind of what?",
    ("hyponym", "mc4"): "Which of these is a kind of {a}?",
    ("cohyponym", "mc4"): "Which of these is a sibling kind of {a}?",
    ("hypernym2", "yesno"): "Is {a} a kind of something that is a kind of {b}?",
    ("meronym", "yesno"): "Is {b} a part of {a}?",
    ("hypernym2", "mc4"): "{a} is a kind of something that is a kind of what?",
    ("meronym", "mc4"): "Which of these is a part of {a}?",
}
# The relations whose texts every mini_ltu tokenizer learns, asked or not: those of the published default
# model. A relation added since joins the tokenizer only in runs that ask it, so the default's
# vocabulary, weights and quoted numbers stay as they were.
TOKENIZER_RELATIONS = ("synonym", "hypernym", "hyponym", "cohyponym")

TEMPLATES: tuple[Template, ...] = (
    *(Template(f"{rel}.{kind}.{fmt}.{i}", "semantic", text, rel, kind, fmt)
      for (rel, kind, fmt), texts in _SEMANTIC.items() for i, text in enumerate(texts)),
    CAPTION, LABEL_QA, COMPARE,
    *(Template(f"fact.{rel}.{fmt}", "fact", text, rel, None, fmt) for (rel, fmt), text in _FACTS.items()),
)
BY_ID = {t.id: t for t in TEMPLATES}


def semantic_templates(relation: str, kind: str, fmt: str) -> list[Template]:
    """The paraphrases of one SHARD question type, in id order."""
    return [t for t in TEMPLATES if t.task == "semantic" and (t.relation, t.source_kind, t.question_format) == (relation, kind, fmt)]


def asked_kinds(relation: str) -> set[str]:
    """The kinds of clip ("source", "event") a relation has questions for: a part is asked of a source only."""
    return {t.source_kind for t in TEMPLATES if t.task == "semantic" and t.relation == relation}


def fact_template(relation: str, fmt: str) -> Template | None:
    return BY_ID.get(f"fact.{relation}.{fmt}")


def tokenizer_texts(relations=()) -> list[str]:
    """Every template text of TOKENIZER_RELATIONS, of `relations` (a run's) and of no relation, and its
    original-format form where it has one clip: what a tokenizer must know."""
    known = {*TOKENIZER_RELATIONS, *relations}
    out = []
    for t in TEMPLATES:
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
