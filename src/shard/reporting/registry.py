"""The result tables and figures, one record each: what rules/tables.smk turns into rules and all_targets
into targets. Adding a table is a record here, its builder, and its caption.

Light on purpose (the Snakefile reads it while parsing): a builder is named by "module:function" and
imported only when its rule runs.
"""
from __future__ import annotations

import pkgutil
from dataclasses import dataclass
from typing import Iterable, Sequence


@dataclass(frozen=True)
class Table:
    """A result table or figure: one rule, `{name}_table` (`{name}_figure` when it is a figure alone)."""
    name: str
    # "module:function", called with `predictions` ({task: {(model, seed, condition): file}}), `conditions`
    # (records in table order), `config`, one path per output and, with provenance, `summaries` (keyed as
    # `predictions`) and `wordnet_source`
    builder: str
    tasks: tuple[str, ...]  # the evaluations it reads (shard.evaluation.conditions.TASKS)
    formats: tuple[str, ...]  # csv | md | tex: tables/{name}.{format}; png: figures/{name}.png
    caption: str  # reStructuredText for the Snakemake report, relative to the workflow folder
    # only the conditions scored on every one of `tasks` (a point that sets reasoning against labelling
    # needs both); else every condition scored on any of them
    every_task: bool = False
    provenance: bool = True  # tables/{name}.provenance.json beside it
    # rows for the models of config `external_models` too (shard.harness.importer: SHARD items only, the
    # conditions they were imported in), where the builder takes a model without every condition
    external_models: bool = False
    # the workflow's own files it reads besides the evaluations, each a keyword argument of the builder named as
    # rules/tables.smk's DATA_FILES names it (test_items: shard/test.parquet; pretrain_labels: prompts/pretrain_labels.parquet)
    data: tuple[str, ...] = ()

    @property
    def rule(self) -> str:
        return f"{self.name}_figure" if self.formats == ("png",) else f"{self.name}_table"

    def reads(self, condition_tasks: Iterable[str]) -> bool:
        """Whether the table has a row (or point) for a condition scored on `condition_tasks`."""
        scored = set(condition_tasks)
        return (all if self.every_task else any)(task in scored for task in self.tasks)

    def outputs(self, results: str) -> dict[str, str]:
        """Output name (a keyword argument of the builder) -> path under the results folder."""
        paths = {fmt: f"{results}/figures/{self.name}.png" if fmt == "png" else f"{results}/tables/{self.name}.{fmt}"
                 for fmt in self.formats}
        return {**paths, "provenance": f"{results}/tables/{self.name}.provenance.json"} if self.provenance else paths


TABLES = {t.name: t for t in (
    Table("semantic", "shard.reporting.semantic:semantic_table", ("semantic",), ("csv", "md", "tex"),
          "report/semantic.rst", external_models=True),
    Table("labelling", "shard.reporting.labelling:labelling_table", ("labelling",), ("csv", "md", "tex"),
          "report/labelling.rst"),
    Table("scaling", "shard.reporting.scaling:scaling_table", ("semantic", "labelling"), ("csv", "md"),
          "report/scaling.rst", every_task=True),
    Table("tradeoff", "shard.reporting.figures:tradeoff_figure", ("semantic", "labelling"), ("png",),
          "report/tradeoff.rst", every_task=True, provenance=False),
    Table("perception", "shard.reporting.perception:perception_table", ("semantic", "labelling"), ("csv", "md"),
          "report/perception.rst", external_models=True, data=("test_items", "pretrain_labels")),
    Table("models", "shard.reporting.model_comparison:models_table", ("semantic", "labelling"), ("csv", "md"),
          "report/models.rst", external_models=True),
    Table("forgetting", "shard.reporting.forgetting:forgetting_table", ("semantic", "labelling"), ("csv", "md", "png"),
          "report/forgetting.rst", every_task=True),
)}


def build_table(*, table: str, evaluated: Sequence[str], **arguments) -> None:
    """Every table rule (rules/scripts/table.py): the record's builder on the rule's params and outputs.
    `evaluated`, the rule's input, is every file of `predictions` and `summaries` (so Snakemake runs the
    table after them); the builder reads those files by their keys, never by their place in a list."""
    from shard.common import ShardError
    from shard.reporting.evaluations import every_file

    keyed = every_file(arguments["predictions"]) + every_file(arguments.get("summaries", {}))
    if sorted(map(str, evaluated)) != sorted(keyed):
        raise ShardError(f"rule {TABLES[table].rule}: its input and its keyed predictions/summaries name different "
                         "files; build both from the same mapping (rules/tables.smk)")
    pkgutil.resolve_name(TABLES[table].builder)(**arguments)
