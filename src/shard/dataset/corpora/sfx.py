"""Real recordings from Debian's openttd-opensfx: 73 game sound effects in one OpenTTD .cat bank.

The bank is a table of (offset | 0x80000000, size) uint32 pairs, then per sound: a length byte, a
NUL-terminated title such as '"Cow". Original "..." by "...". License: Creative Commons Zero 1.0.',
and a complete RIFF/WAVE file. We copy each WAVE out unchanged, label it from its title (TITLE_LABELS)
and keep its own licence. Titles without a clean label (jingles, UI sounds, comedy mixes, empty
placeholders) become `unknown_label` rejects, so the choice is visible in rejects.parquet.

gcompris-qt-data (animals and instruments inside Qt .rcc resources) is not used: it is not installed
here and its .rcc files need a Qt resource decoder.
"""
from __future__ import annotations

import re
import struct
from pathlib import Path

from shard.common import ShardError, atomic_path
from shard.dataset.corpora import on_disk
from shard.dataset.corpora.kinds import CORPUS_KINDS, corpus_files, corpus_kind

DEFAULT_CAT = Path(CORPUS_KINDS["sfx"].files["cat"])
# SPDX ids of the licence texts the bank's titles name
SPDX = {
    "Creative Commons Zero 1.0": "CC0-1.0",
    "Creative Commons Attribution 3.0 Unported": "CC-BY-3.0",
    "Creative Commons Attribution 3.0": "CC-BY-3.0",
    "Creative Commons Attribution-ShareAlike 3.0 Unported": "CC-BY-SA-3.0",
}

# Title (first quoted string) -> readable label; None: no label a listener would agree on.
TITLE_LABELS = {
    "Good Year": "Fanfare", "Bad Year": None, "Splat (building docks/canals/river)": None,
    "Factory Whistle": "Whistle", "Steam train station departure": "Train",
    "Steam engine going in tunnel": "Train", "Ship horn": "Foghorn", "Ferry horn": "Foghorn",
    "Propeller plane start": "Airplane", "Early jet take off": "Jet",
    "Diesel/electric train station departure": "Train", "Mining machinery": "Machinery",
    "Electric sparking": "Spark", "Steam (of steam engine)": "Steam", "Level crossing": "Bell",
    "Road vehicle breakdown": None, "Train/ship breakdown": None, "Crash": "Crash", "Explosion": "Explosion",
    "Big crash": "Crash", "Cash till": "Cash register", "Beep": "Beep", "Morse": "Beep",
    "Plane wheels touching ground": "Skid", "Helicopter": "Helicopter", "Truck/old bus start, pull away": "Truck",
    "Truck/old bus start, pull away with horn": "Truck", "Modern bus start": "Bus", "Old bus start": "Bus",
    "Applause": "Applause", "Oooh sound": "Crowd", "Splat (terraform/non-rail builds": None,
    "Splat (rail builds)": None, "Jackhammer": "Jackhammer", "Unused/Nothing": None,
    "Modern car horn": "Car horn", "Sheep": "Sheep", "Cow": "Cow", "Horse": "Horse",
    "Building bridge": "Hammer", "Sawmill": "Circular saw", "Toyland: Sugar mine (1)": "Rattle",
    "Toyland: Toy factory (1)": None, "Toyland: Toy factory (2)": None, "Toyland: Toy factory (3)": None,
    "Toyland: Sugar mine (2)": "Rattle", "Toyland: Bubble generated": "Bubble", "Toyland: Bubble plop": "Bubble",
    "Toyland: Toffee quarry": None, "Toyland: Bubble slurped": None, "Unused/Nothing | OpenSFX 1.0.3": None,
    "Toyland: Plastic mine": "Bubble", "Wind": "Wind", "Toyland: Road vehicle breakdown": None,
    "Lumber mill: Crashing tree": "Tree falling", "Lumber mill: Falling tree": "Tree falling",
    "Lumber mill: Chainsaw": "Chainsaw", "Heavy wind": "Wind", "Toyland: Train breakdown": None,
    "Mach 1+ Jet take off": "Jet", "Toyland: Comedy bus start (1)": None, "Modern jet take off": "Jet",
    "Toyland: Comedy bus start (2)": None, "Toyland: Comedy truck start (1)": None,
    "Toyland: Comedy truck start (2)": None, "Maglev train station departure": "Train",
    "Tropical: Bird (1)": "Bird", "Tropical: Lion roar": "Lion", "Tropical: Monkeys": "Monkey",
    "Toyland: Propeller plane take off": "Airplane", "Toyland: Jet take off": "Jet",
    "Monorail train station departure": "Train", "Tropical: Bird (2)": "Bird",
}
_TITLE = re.compile(r'^"([^"]*)"')
_LICENCE = re.compile(r"License:\s*(.+?)\.(?:\s|$)")


def read_cat(path: Path) -> list[tuple[str, bytes]]:
    """(description, WAVE bytes) for every sound of an OpenTTD .cat sample bank."""
    data = path.read_bytes()
    count = (struct.unpack_from("<I", data, 0)[0] & 0x7FFFFFFF) // 8
    sounds = []
    for i in range(count):
        offset, size = struct.unpack_from("<II", data, 8 * i)
        offset &= 0x7FFFFFFF
        name_len = data[offset]
        name = data[offset + 1:offset + 1 + name_len].rstrip(b"\0").decode("utf-8", "replace")
        wav = data[offset + 1 + name_len:offset + 1 + name_len + size]  # size counts the WAVE only
        if wav[:4] != b"RIFF":
            raise ShardError(f"'{path}': sound {i} is not a RIFF/WAVE entry; is this an OpenTTD .cat bank?")
        sounds.append((name, wav))
    return sounds


def _licence(description: str, default: str) -> str:
    m = _LICENCE.search(description)
    text = m.group(1).strip() if m else default
    return f"{SPDX.get(text, text)} (OpenSFX; {description})"


def load_segments(corpus_cfg: dict, seed: int, workdir: Path):
    files, licence = corpus_files(corpus_cfg), corpus_kind(corpus_cfg).licence
    root = Path(corpus_cfg["root"] or DEFAULT_CAT.parent)
    cat = root / files["cat"]
    if not cat.is_file():
        raise ShardError(f"OpenSFX sound bank '{cat}' not found: install it with "
                         "'apt-get install openttd-opensfx' (or set corpus.files.cat to an opensfx.cat)")
    workdir = Path(workdir).resolve()
    audio_dir = workdir / "audio"
    label_map = corpus_cfg["label_map"]
    rows = []
    for i, (description, wav) in enumerate(read_cat(cat)):
        rid = f"opensfx_{i:02d}"
        path = audio_dir / f"{rid}.wav"
        if not path.is_file() or path.read_bytes() != wav:
            with atomic_path(path) as tmp:
                tmp.write_bytes(wav)
        m = _TITLE.match(description)
        title = m.group(1) if m else description
        rows.append({"recording_id": rid, "path": path, "raw_labels": [title], "onset": None, "offset": None,
                     "key": rid, "source": "openttd-opensfx", "licence": _licence(description, licence)})

    def resolve(title: str) -> str | None:
        if title in label_map:
            return label_map[title]
        return TITLE_LABELS.get(title)
    return on_disk.finish(rows, workdir, resolve, "openttd-opensfx", licence)
