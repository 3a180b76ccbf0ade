"""The relation columns of a table: their order and their titles, as the relation records give them
(shard.relations: registration order, Relation.title)."""
from __future__ import annotations

from ..relations import ordered_relations, relation_title  # noqa: F401
