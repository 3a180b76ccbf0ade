"""The relation columns of a table: their order and their titles."""
from __future__ import annotations

RELATION_ORDER = ("synonym", "hypernym", "hyponym", "cohyponym", "meronym", "hypernym2")
# a column's title where the relation's name alone would not say what it asks
RELATION_TITLES = {"hypernym2": "Hypernym (2 hops)", "cohyponym": "Co-hyponym"}


def relation_title(relation: str) -> str:
    return RELATION_TITLES.get(relation, relation.capitalize())


def ordered_relations(present) -> list[str]:
    """The relations found in the data, RELATION_ORDER first, any other after them by name: a column each."""
    present = set(present)
    return [r for r in RELATION_ORDER if r in present] + sorted(present - set(RELATION_ORDER))
