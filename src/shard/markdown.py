"""The one Markdown table renderer (result tables, the dataset card, the README's quoted tables)."""
from __future__ import annotations

import polars as pl


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(df: pl.DataFrame) -> str:
    """A GitHub-flavoured Markdown table, columns padded to their widest cell; '(none)' for no rows."""
    if df.is_empty():
        return "(none)\n"
    rows = [df.columns, *[[_cell(v) for v in r] for r in df.iter_rows()]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(df.columns))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(rows[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows[1:])]) + "\n"
