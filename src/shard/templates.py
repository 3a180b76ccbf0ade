"""Every piece of instruction text the workflow writes, in one place.

SHARD questions carry an `<audio>` placeholder and a `{word}` slot. Which templates apply depends on
what the clip's synset names: a sound *source* (noun.animal, noun.artifact, noun.person, ...) or a
sound / event itself (noun.event, noun.phenomenon, noun.act, noun.communication, ...).
"""
from __future__ import annotations

import re

AUDIO = "<audio>"
YES, NO = "yes", "no"

EVENT_LEXNAMES = {"noun.event", "noun.phenomenon", "noun.act", "noun.communication",
                  "noun.process", "noun.state", "noun.attribute", "noun.time"}


def source_kind(lexname: str) -> str:
    """'event' when the synset names the sound itself, else 'source' (the thing making it)."""
    return "event" if lexname in EVENT_LEXNAMES else "source"


# (relation, source_kind, question format) -> templates; template_id = f"{relation}.{kind}.{fmt}.{i}"
SHARD_TEMPLATES: dict[tuple[str, str, str], list[str]] = {
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
}


MC_OPTIONS_PREFIX, MC_OPTIONS_SEP, MC_OPTIONS_END = " Options: ", ", ", "."


def mc_options_suffix(options: list[str]) -> str:
    """The list of options appended to an mc4 question (also built column-wise in shard.prompts)."""
    return MC_OPTIONS_PREFIX + MC_OPTIONS_SEP.join(options) + MC_OPTIONS_END


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
CAPTION_INSTRUCTION = "Write an audio caption describing <audio>."


def caption_answer(label: str) -> str:
    """The caption a labelling prompt is trained to produce, and what the evaluation embeds."""
    return label.lower()


def sound_of(text: str) -> str:
    """The sentence the labelling evaluation embeds for a caption or a label (LTU's protocol)."""
    return f"sound of {text}"


# training only: a two-clip interleaved question (answer yes when both clips share a label)
COMPARE_TEMPLATE = "Are <audio> and <audio> sounds of the same thing?"

# base-model pretraining only: is the clip a given label (never a SHARD relation)
LABEL_QA_TEMPLATE = "Is <audio> the sound of {label}?"

# ---------------------------------------------------------------- text-only WordNet facts
FACT_TEMPLATES = {
    "synonym": "Is {a} also called {b}?",
    "hypernym": "Is {a} a kind of {b}?",
    "hyponym": "Is {b} a kind of {a}?",
    "cohyponym": "Are {a} and {b} sibling kinds?",
}
FACT_MC_TEMPLATES = {
    "synonym": "Which word is another name for {a}?",
    "hypernym": "{a} is a kind of what?",
    "hyponym": "Which of these is a kind of {a}?",
    "cohyponym": "Which of these is a sibling kind of {a}?",
}

# LTU's instruction wrapper (the backend applies it; prompts files hold the bare instruction)
LTU_PROMPT = "### Instruction:\n{instruction}\n\n### Response:\n"
