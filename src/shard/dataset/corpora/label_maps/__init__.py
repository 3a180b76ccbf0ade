"""Curated label -> WordNet synset maps, shipped as package data (docs/label_maps.md).

One CSV per label list (``audioset``, ``esc50``, ``urbansound8k``, and ``builtin`` for the labels of
the synth and sfx corpora), columns
``label,synset,role,reason,note``: a mapped row names a noun synset (``dog.n.01``) and its role
(``source``: what makes the sound; ``event``: the sound itself); an excluded row has no synset and
says why in ``reason``. FSD50K uses AudioSet's display names with underscores, so it reads the
AudioSet map through :func:`lookup`.
"""
from __future__ import annotations

from importlib import resources

import polars as pl

NAMES = ("audioset", "esc50", "urbansound8k", "builtin")
COLUMNS = ("label", "synset", "role", "reason", "note")
ROLES = ("source", "event")


def load(name: str) -> pl.DataFrame:
    """The map `name` as a DataFrame: all columns strings, empty fields null."""
    if name not in NAMES:
        raise ValueError(f"unknown label map '{name}'; use one of {', '.join(NAMES)}")
    with resources.files(__name__).joinpath(f"{name}.csv").open("rb") as fh:
        return pl.read_csv(fh, infer_schema=False)


def hints(name: str) -> dict[str, str]:
    """label -> synset name, for the mapped rows of `name` (excluded labels are absent)."""
    mapped = load(name).filter(pl.col("synset").is_not_null())
    return dict(mapped.select("label", "synset").iter_rows())


def _key(label: str) -> str:
    return " ".join(label.replace("_", " ").split()).lower()


def _key_expr(col: str) -> pl.Expr:
    return pl.col(col).str.replace_all("_", " ").str.replace_all(r"\s+", " ").str.strip_chars().str.to_lowercase()


def lookup(name: str, label: str) -> dict | None:
    """The row of `label` in map `name` as a dict, or None if the label is not listed.

    An exact match wins; otherwise the label matches when both agree after underscores become
    spaces and case is ignored, so FSD50K's ``Acoustic_guitar`` finds AudioSet's ``Acoustic guitar``
    and a readable ``Crying baby`` finds ESC-50's ``crying_baby``.
    """
    table = load(name)
    rows = table.filter(pl.col("label") == label)
    if rows.is_empty():
        rows = table.filter(_key_expr("label") == _key(label))
    return rows.row(0, named=True) if rows.height else None


def resolve(name: str, labels) -> dict[str, dict]:
    """label -> its row of map `name` (matched as `lookup` does), for every label the map lists."""
    table = load(name).with_columns(_key=_key_expr("label"))
    exact = {r["label"]: r for r in table.iter_rows(named=True)}
    loose = {r["_key"]: r for r in table.iter_rows(named=True)}
    out = {}
    for label in labels:
        row = exact.get(label) or loose.get(_key(label))
        if row is not None:
            out[label] = {k: row[k] for k in COLUMNS}
    return out
