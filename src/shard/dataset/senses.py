"""Label -> WordNet sense: the curated maps, the config's overrides, and the automatic mapper's ranking
of WordNet's own senses; and the role of a sense (the sound's source, or the sound itself)."""
from __future__ import annotations

import re

import polars as pl

from shard.common import ShardError, readable
from shard.dataset.relations import EVENT, SOURCE

# Sense preference: things that make sound and sounds themselves first; a person sense (often a
# proper name or slang: "Siren" the nymph) only when nothing better exists; anything else (plants:
# tree "bark"; body parts: "organ") last.
SOUND_LEXNAMES = {"noun.animal", "noun.artifact", "noun.object",
                  "noun.phenomenon", "noun.event", "noun.act", "noun.communication", "noun.process"}
PERSON_LEXNAMES = {"noun.person"}
# A group that makes sound as one (orchestra, choir, crowd): with things and sounds when the word is
# often tagged with it, else after them (and before persons).
SOURCE_GROUP_LEXNAMES = {"noun.group"}
# Materials that sound when struck, poured or blown (water, glass, wood, steam): with things and sounds.
SOURCE_SUBSTANCE_LEXNAMES = {"noun.substance"}
# Senses of these lexnames cannot name a sound or what makes it (a place, an idea, an amount, a time,
# a feeling, a motive, a possession, a relation, a shape): auto_synset never takes one.
NON_SOUND_LEXNAMES = {"noun.location", "noun.cognition", "noun.quantity", "noun.time", "noun.feeling",
                      "noun.motive", "noun.possession", "noun.relation", "noun.shape"}
# Senses of these lexnames name a happening or a quality: the sound itself (role EVENT), not the thing
# making it (role SOURCE: an animal, an artifact, a person, ...).
EVENT_LEXNAMES = {"noun.event", "noun.phenomenon", "noun.act", "noun.communication",
                  "noun.process", "noun.state", "noun.attribute", "noun.time"}
LABEL_SYNSETS_SCHEMA = {"label": pl.String, "synset": pl.String, "method": pl.String,
                        "lexname": pl.String, "gloss": pl.String, "reason": pl.String}


def role_of(lexname: str) -> str:
    """EVENT when a synset of this lexname names the sound itself, else SOURCE (the thing making it)."""
    return EVENT if lexname in EVENT_LEXNAMES else SOURCE


def label_variants(label: str) -> list[tuple[str, str]]:
    """(lemma to look up, how it was derived), best first: "Clock (ticking)" -> clock; "Car horn"
    -> car_horn, then the head noun horn; "Vehicle horn, car horn" -> each comma part in turn.
    Underscores count as spaces (FSD50K's "Acoustic_guitar", ESC-50's "crying_baby"). Head-noun
    forms come last and are marked "head noun ...": auto_synset never maps a label to one."""
    text = re.sub(r"\([^)]*\)", " ", label.lower().replace("_", " "))
    parts = [" ".join(p.split()) for p in re.split(r"[,;/]", text)]
    parts = [p for p in parts if p]
    out: list[tuple[str, str]] = []
    for part in parts:
        for form in (part.replace(" ", "_"), part.replace(" ", "_").replace("-", "_"), part.replace(" ", "").replace("-", "")):
            out.append((form, f"'{readable(form)}'"))
    for part in parts:
        if " " in part:
            out.append((part.split()[-1], f"head noun '{part.split()[-1]}' of '{part}'"))
    seen, unique = set(), []
    for form, how in out:
        if form not in seen:
            seen.add(form)
            unique.append((form, how))
    return unique


_SOUND_GLOSS = re.compile(r"\b(sound|sounds|noise|noises|cry|call|utterance|music|musical)\b")


# A gloss that makes a happening a sight ("a momentary flash of light", flicker.n.01, noun.event)
_SIGHT_GLOSS = re.compile(r"\b(light|brightness|bright|gleam|glow|glint|shine|colou?r|visible)\b")


def unheard(synset) -> str | None:
    """Why a sense cannot name a sound or what makes it, or None when it can. By its lexname: a place, an
    idea, an amount, ... (NON_SOUND_LEXNAMES) never; a thing (role SOURCE) may make a sound. By its gloss:
    a happening (role EVENT) names the sound itself only when it can be heard, so not when its gloss
    speaks of a sight and of no sound (flicker.n.01 "a momentary flash of light", the label "Spark")."""
    lexname, gloss = synset.lexname(), synset.definition()
    if lexname in NON_SOUND_LEXNAMES:
        return lexname
    if role_of(lexname) == EVENT and _SIGHT_GLOSS.search(gloss) and not _SOUND_GLOSS.search(gloss):
        return f"{lexname}, seen, not heard: '{gloss}'"
    return None


def _sense_key(wn, synset, lemma: str, index: int):
    lexname = synset.lexname()
    count = sum(l.count() for l in synset.lemmas() if l.name().lower() == lemma.lower())
    # A group sense the word is often tagged with (orchestra.n.01, not the theatre seating) competes
    # with things and sounds; a rare one comes after them.
    tier = (0 if lexname in SOUND_LEXNAMES or lexname in SOURCE_SUBSTANCE_LEXNAMES
            or (lexname in SOURCE_GROUP_LEXNAMES and count >= 2)
            else 1 if lexname in SOURCE_GROUP_LEXNAMES else 2 if lexname in PERSON_LEXNAMES else 3)
    # Untagged senses (count 0) come in lexicographer order, which says nothing about frequency:
    # there, prefer a sense whose gloss speaks of sound (slam.n.02 "the noise made by ...", not the
    # bridge slam), a sense the word names (saw.n.02, not proverb.n.01 "saw") and a richer taxonomy.
    untagged_alias = count == 0 and synset.lemmas()[0].name().lower() != lemma.lower()
    return (tier, -count, not _SOUND_GLOSS.search(synset.definition()), untagged_alias,
            -len(synset.hyponyms()), index)


def auto_synset(wn, label: str):
    """(synset, reason) for a label, or (None, reason) when no usable noun sense exists.

    Never a sense that cannot name a sound or its source (`unheard`: "Inside, small room" -> inside.n.01
    is a place, "Spark" -> flicker.n.01 a flash of light), and never the head noun of a multi-word label
    ("Drum machine" -> machine.n.01 is broader than the label, so a synonym item built on it is false)."""
    variants = label_variants(label)
    non_sound: list[str] = []
    for form, how in variants:
        if how.startswith("head noun"):
            continue
        senses = wn.synsets(form, pos="n")
        why_not = [unheard(s) for s in senses]
        usable = [(i, s) for i, (s, why) in enumerate(zip(senses, why_not)) if why is None]
        non_sound += [f"{s.name()} ({why})" for s, why in zip(senses, why_not) if why is not None]
        if usable:
            best, s = min(usable, key=lambda p: _sense_key(wn, p[1], form, p[0]))
            why = (f"{how}: noun sense {best + 1} of {len(senses)} ({s.lexname()}); "
                   f"sound-source/sound lexnames first, then tagged frequency")
            return s, why
    if non_sound:
        return None, ("only senses that cannot name a sound or its source: "
                      + ", ".join(dict.fromkeys(non_sound)))
    heads = [form for form, how in variants if how.startswith("head noun")
             and any(unheard(s) is None for s in wn.synsets(form, pos="n"))]
    if heads:
        return None, f"only the head noun '{readable(heads[0])}' is in WordNet: broader than the label"
    tried = ", ".join(readable(f) for f, _ in variants) or "(empty label)"
    return None, f"no WordNet noun for: {tried}"


def map_labels(wn, labels: list[str], overrides: dict, curated: dict[str, dict], map_name: str = "label") -> pl.DataFrame:
    """One row per label: override (config) > the corpus's curated map (a synset, or an exclusion with its
    reason; method "curated") > auto (WordNet's own senses) > unmapped."""
    rows = []
    for label in sorted(set(labels)):
        synset, method, reason = None, "unmapped", None
        if label in overrides:
            synset = _named_synset(wn, overrides[label], f"wordnet.overrides.{label}", "config.yaml")
            method, reason = "override", "config wordnet.overrides"
        elif label in curated:
            row = curated[label]
            if row["synset"]:
                # the map ships with the package, so the user's fix is an override, not an edit of the map
                synset = _named_synset(wn, row["synset"], f"{map_name} curated map, row '{label}'",
                                       f"config.yaml by setting wordnet.overrides.{label} to the intended synset")
                method, reason = "curated", f"{map_name} curated map ({row['role']})" + (
                    f": {row['note']}" if row.get("note") else "")
            else:
                reason = f"{map_name} curated map excludes it: {row['reason']}"
        else:
            synset, reason = auto_synset(wn, label)
            method = "auto" if synset is not None else "unmapped"
        rows.append({"label": label, "synset": synset.name() if synset else None, "method": method,
                     "lexname": synset.lexname() if synset else None,
                     "gloss": synset.definition() if synset else None, "reason": reason})
    return pl.DataFrame(rows, schema=LABEL_SYNSETS_SCHEMA)


def _named_synset(wn, name: str, key: str, where: str):
    """A noun synset by name (`dog.n.01`), or ShardError naming the key that gave the bad name."""
    try:
        synset = wn.synset(name)
    except Exception:  # nltk raises ValueError / WordNetError / AttributeError for bad names
        synset = None
    if synset is None or synset.pos() != "n":
        raise ShardError(f"{key}: '{name}' is not a WordNet noun synset; fix it in {where} "
                         "(names look like dog.n.01; list them with nltk: wn.synsets('dog', 'n'))")
    return synset
