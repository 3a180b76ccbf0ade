"""WordNet 3.0 on this machine, offline: set up once, read through one cached reader.

The label -> synset mapping is shard.dataset.senses, the relations shard.dataset.relations (mined by shard.dataset.mining).
nltk reads WordNet from `$NLTK_DATA/corpora/wordnet`. On a fresh machine that directory is filled
from Debian's `wordnet-base` / `wordnet-sense-index` (/usr/share/wordnet): the files are copied (nltk
refuses symlinks that escape its data path) and the `lexnames` file, which Debian does not ship, is
generated. Synsets are always keyed by name (`dog.n.01`), never by byte offset.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import warnings
from pathlib import Path

from shard.common import ShardError, atomic_path

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
                         "run `python -m shard.dataset.wordnet` to copy it again from Debian's files") from None
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


def check_wordnet(wordnet_source) -> dict:
    """This machine's WordNet (ensure_wordnet), refused if it is not the one `wordnet_source` (the wordnet
    rule's source.json) records."""
    info = ensure_wordnet()
    recorded = json.loads(Path(wordnet_source).read_text())
    if recorded["checksum"] != info["checksum"]:
        raise ShardError(f"{wordnet_source}: WordNet changed since label_synsets were built "
                         f"({recorded['checksum']} -> {info['checksum']}); rerun the wordnet rule")
    return info


def main() -> None:
    from shard.common import setup_logging

    setup_logging()
    try:
        info = ensure_wordnet()
    except ShardError as err:
        raise SystemExit(f"shard: {err}") from None
    print(f"WordNet {info['version']} at {_path(_nltk_root())} (from {info['origin']}), sha1(data.noun)={info['checksum']}")


if __name__ == "__main__":
    main()
