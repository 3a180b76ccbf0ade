"""WordNet 3.0, offline: setup, label -> synset mapping, and the relations SHARD asks about.

nltk reads WordNet from `$NLTK_DATA/corpora/wordnet`. On a fresh machine that directory is filled
from Debian's `wordnet-base` / `wordnet-sense-index` (/usr/share/wordnet): the files are copied (nltk
refuses symlinks that escape its data path) and the `lexnames` file, which Debian does not ship, is
generated. Synsets are always keyed by name (`dog.n.01`), never by byte offset.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import warnings
from pathlib import Path

import polars as pl

from .common import ShardError, atomic_path, readable, write_json, write_parquet

log = logging.getLogger("shard")

DEBIAN_DIR = Path("/usr/share/wordnet")
DEBIAN_FIX = "apt-get install wordnet-base wordnet-sense-index"
ORIGIN_FILE = "ORIGIN"  # written beside a copied WordNet, so a later run still knows where it came from

# The 45 lexicographer files of WordNet 3.0, in index order (lexnames: "NN\tname\tsyntactic category").
LEXNAMES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event",
    "noun.feeling", "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object",
    "noun.person", "noun.phenomenon", "noun.plant", "noun.possession", "noun.process",
    "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
    "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather", "adj.ppl",
)
_CATEGORY = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}


def lexnames_text() -> str:
    return "".join(f"{i:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(LEXNAMES))


# ---------------------------------------------------------------- setup
def _nltk_root():
    """The WordNet directory nltk would read (a path pointer), or None."""
    import nltk

    try:
        return nltk.data.find("corpora/wordnet")
    except LookupError:
        return None


def _data_dir() -> Path:
    """Where to install: the first $NLTK_DATA entry (nltk splits it like PATH), else ~/nltk_data."""
    first = (os.environ.get("NLTK_DATA") or "").split(os.pathsep)[0]
    return Path(first or Path.home() / "nltk_data").expanduser()


def _install_from_debian(target: Path) -> None:
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    needed = [f for f in WordNetCorpusReader._FILES if f != "lexnames"]
    missing = [f for f in needed if not (DEBIAN_DIR / f).is_file()]
    if missing:
        raise ShardError(f"WordNet not found: nltk has no corpora/wordnet and {DEBIAN_DIR} lacks "
                         f"{', '.join(missing)}; run `{DEBIAN_FIX}` (or nltk.download('wordnet'))")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        for name in needed:
            shutil.copyfile(DEBIAN_DIR / name, tmp / name)
        (tmp / "lexnames").write_text(lexnames_text())
        (tmp / ORIGIN_FILE).write_text(f"debian:{DEBIAN_DIR} (wordnet-base, wordnet-sense-index)\n")
    log.info("copied WordNet from %s to %s", DEBIAN_DIR, target)


def ensure_wordnet() -> dict:
    """Make WordNet loadable by nltk; return {origin, checksum (sha1 of data.noun), version}: what outputs
    record, with no path of this machine (where nltk found it is logged, not written)."""
    import nltk

    root = _nltk_root()
    if root is None:
        data_dir = _data_dir()
        _install_from_debian(data_dir / "corpora" / "wordnet")
        if str(data_dir) not in nltk.data.path:
            nltk.data.path.insert(0, str(data_dir))
        root = _nltk_root()
        if root is None:  # nltk.data.path was changed so that it no longer holds $NLTK_DATA
            raise ShardError(f"copied WordNet to {data_dir}, but nltk does not search there; "
                             "set NLTK_DATA to that directory")
    try:
        wn = _reader_at(root)
        with root.join("data.noun").open() as fh:
            checksum = hashlib.sha1(fh.read()).hexdigest()
    except (OSError, LookupError, ValueError) as err:
        raise ShardError(f"WordNet at {_path(root)} is incomplete ({err}); remove that directory and "
                         "run `python -m shard.wordnet` to copy it again from Debian's files") from None
    try:
        with root.join(ORIGIN_FILE).open() as fh:
            origin = fh.read().decode().strip()
    except (OSError, KeyError):  # an nltk_data WordNet (nltk.download), used as is
        origin = "nltk_data"
    log.info("WordNet %s at %s (%s)", wn.get_version(), _path(root), origin)
    return {"origin": origin, "checksum": checksum, "version": wn.get_version()}


def _path(root) -> str:
    """A readable path for a directory or zip path pointer."""
    return getattr(root, "path", None) or f"{root.zipfile.filename}/{root.entry}"


_READERS: dict[str, object] = {}


def _reader_at(root):
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    key = _path(root)
    if key not in _READERS:
        with warnings.catch_warnings():  # "multilingual functions are not available": English only
            warnings.simplefilter("ignore")
            _READERS[key] = WordNetCorpusReader(root, None)
    return _READERS[key]


def reader():
    """The nltk WordNetCorpusReader over the WordNet ensure_wordnet() sets up (cached per path)."""
    root = _nltk_root()
    if root is None:
        ensure_wordnet()
        root = _nltk_root()
    return _reader_at(root)




# ---------------------------------------------------------------- label -> synset
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
RELATIONS = ("synonym", "hypernym", "hyponym", "cohyponym", "meronym", "hypernym2")
# Part meronyms are inherited along hypernyms ("crow" has the wing of bird.n.01, four steps up): the parts
# of the synset and of its hypernyms up to this many steps, each row's depth that of its holonym.
MERONYM_DEPTH = 4
# Why a synset has no row of a relation (the dataset card quotes it for each label left without items).
NO_ROWS = {
    "synonym": "no other WordNet lemma than the label's own names",
    "hypernym": "no hypernym within wordnet.max_hypernym_depth outside wordnet.skip_hypernyms",
    "hyponym": "no hyponym within two steps in WordNet",
    "cohyponym": "no sibling under a direct hypernym in WordNet",
    "meronym": f"no part meronym in WordNet for the synset or its hypernyms within {MERONYM_DEPTH} steps",
    "hypernym2": "no hypernym exactly two steps up outside wordnet.skip_hypernyms",
}
LABEL_SYNSETS_SCHEMA = {"label": pl.String, "synset": pl.String, "method": pl.String,
                        "lexname": pl.String, "gloss": pl.String, "reason": pl.String}
RELATIONS_SCHEMA = {"synset": pl.String, "relation": pl.String, "word": pl.String,
                    "target_synset": pl.String, "depth": pl.Int64}


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


def _sound_capable(synset) -> bool:
    """False for a sense whose lexname cannot name a sound or its source (NON_SOUND_LEXNAMES)."""
    return synset.lexname() not in NON_SOUND_LEXNAMES


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

    Never a sense whose lexname cannot name a sound or its source (NON_SOUND_LEXNAMES: "Inside,
    small room" -> inside.n.01 is a place), and never the head noun of a multi-word label ("Drum
    machine" -> machine.n.01 is broader than the label, so a synonym item built on it is false)."""
    variants = label_variants(label)
    non_sound: list[str] = []
    for form, how in variants:
        if how.startswith("head noun"):
            continue
        senses = wn.synsets(form, pos="n")
        usable = [(i, s) for i, s in enumerate(senses) if _sound_capable(s)]
        non_sound += [f"{s.name()} ({s.lexname()})" for s in senses if not _sound_capable(s)]
        if usable:
            best, s = min(usable, key=lambda p: _sense_key(wn, p[1], form, p[0]))
            why = (f"{how}: noun sense {best + 1} of {len(senses)} ({s.lexname()}); "
                   f"sound-source/sound lexnames first, then tagged frequency")
            return s, why
    if non_sound:
        return None, ("only senses whose lexname cannot name a sound or its source: "
                      + ", ".join(dict.fromkeys(non_sound)))
    heads = [form for form, how in variants if how.startswith("head noun")
             and any(_sound_capable(s) for s in wn.synsets(form, pos="n"))]
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


# ---------------------------------------------------------------- relations
def parents(s):
    """Direct hypernyms, instance hypernyms included (Paris -> city)."""
    return s.hypernyms() + s.instance_hypernyms()


def children(s):
    """Direct hyponyms, instance hyponyms included."""
    return s.hyponyms() + s.instance_hyponyms()


def by_depth(start, step, max_depth: int) -> dict:
    """synset -> shortest distance from `start` along `step` (1..max_depth), over all paths."""
    depth, frontier = {}, [start]
    for d in range(1, max_depth + 1):
        nxt = []
        for s in frontier:
            for t in step(s):
                if t not in depth and t != start:
                    depth[t] = d
                    nxt.append(t)
        frontier = nxt
    return depth


def has_parts(s):
    """What WordNet says a thing is made of: its part and substance meronyms."""
    return s.part_meronyms() + s.substance_meronyms()


def part_closure(synset) -> set:
    """Every synset that names something the thing has, under any inherited path: the parts (and
    substances) of the synset and of all its hypernyms, their parts in turn, and what those parts are
    kinds of (a bird's wing makes "limb" true too). A meronym negative must name none of them."""
    holders = {synset, *by_depth(synset, parents, 100)}
    parts = {p for h in holders for p in has_parts(h)}
    parts |= {q for p in list(parts) for q in by_depth(p, has_parts, 100)}
    return parts | {a for p in parts for a in by_depth(p, parents, 100)}


def synset_relations(synset, skip: set[str], max_depth: int) -> list[dict]:
    """Rows (synset, relation, word, target_synset, depth) for one synset, one row per word."""
    own = {l.name().lower() for l in synset.lemmas()}
    ancestors = by_depth(synset, parents, 100)
    descendants = by_depth(synset, children, 100)
    rows: dict[tuple[str, str], dict] = {}

    def add(relation, target, depth, banned=frozenset()):
        for lemma in target.lemmas():
            word = readable(lemma.name())
            key = (relation, word.lower())
            if lemma.name().lower() in banned:
                continue
            if key not in rows or (depth, target.name()) < (rows[key]["depth"], rows[key]["target_synset"]):
                rows[key] = {"synset": synset.name(), "relation": relation, "word": word,
                             "target_synset": target.name(), "depth": depth}

    add("synonym", synset, 0)
    for target, d in by_depth(synset, parents, max_depth).items():
        if target.name() not in skip:
            add("hypernym", target, d, own)
    for target, d in by_depth(synset, children, 2).items():
        add("hyponym", target, d, own)
    # siblings under a direct parent; never a word that also names the synset or its lineage
    lineage = {l.name().lower() for s in [*ancestors, *descendants] for l in s.lemmas()} | own
    for parent in parents(synset):
        for sib in children(parent):
            if sib != synset and sib not in ancestors and sib not in descendants:
                add("cohyponym", sib, 1, lineage)
    # two hops exactly: the grandparents that are not also a parent along another path
    for target, d in by_depth(synset, parents, 2).items():
        if d == 2 and target.name() not in skip:
            add("hypernym2", target, 2, own)
    # parts of the synset (depth 0) and of its hypernyms (their depth); never meat (noun.food: beef.n.02
    # "boeuf" of cattle) nor a part named like the synset's own lineage (bird.n.02 "bird, fowl", the flesh):
    # parts of a meal, not of the living thing making the sound
    holders = {synset: 0, **{t: d for t, d in by_depth(synset, parents, MERONYM_DEPTH).items() if t.name() not in skip}}
    own_lineage = {l.name().lower() for s in [synset, *ancestors] for l in s.lemmas()}
    for holder, d in holders.items():
        for part in holder.part_meronyms():
            if part.lexname() != "noun.food" and not own_lineage & {l.name().lower() for l in part.lemmas()}:
                add("meronym", part, d)
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
                 if r["relation"] != "synonym" or r["word"].lower() not in names[name]]
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
    from .corpora import label_maps

    curated = label_maps.resolve(curated_map, labels) if curated_map else {}
    table = map_labels(wn, labels, overrides, curated, curated_map or "")
    rel = build_relations(wn, table, set(wordnet["skip_hypernyms"]), wordnet["max_hypernym_depth"])
    unmapped = table.filter(pl.col("synset").is_null())["label"].to_list()
    log.info("mapped %d of %d labels to WordNet (%d relation rows); unmapped: %s",
             table.height - len(unmapped), table.height, rel.height, unmapped or "none")
    write_parquet(table, label_synsets)
    write_parquet(rel, relations)
    write_json(info, source)


def main() -> None:
    from .common import setup_logging

    setup_logging()
    try:
        info = ensure_wordnet()
    except ShardError as err:
        raise SystemExit(f"shard: {err}") from None
    print(f"WordNet {info['version']} at {_path(_nltk_root())} (from {info['origin']}), sha1(data.noun)={info['checksum']}")


if __name__ == "__main__":
    main()
