"""One table, two renderings: the formatted cells as Markdown and as LaTeX (booktabs), the numbers as CSV.

Cells have a fixed precision, so the same numbers always give the same bytes.
"""
from __future__ import annotations

import math
from itertools import takewhile
from typing import Sequence

import polars as pl

from shard.common import write_text
from shard.markdown import markdown_table

NA = "–"
LABEL_COLUMNS = ("Model", "Condition")  # a row's name; every other column holds numbers


# ---------------------------------------------------------------- cell formatting (fixed precision)
def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def pct(x) -> str:
    return NA if _missing(x) else f"{100 * x:.1f}"


def ci_cell(est, lo, hi, sd=None) -> str:
    """'43.5 [40.1, 47.0]', or with several replicates '43.5 ± 4.3 [40.1, 47.0]' (± the sd over seeds)."""
    if _missing(est):
        return NA
    spread = "" if _missing(sd) else f" ± {100 * sd:.1f}"
    return f"{pct(est)}{spread} [{pct(lo)}, {pct(hi)}]"


def stats_cell(row: dict, prefix: str) -> str:
    """The CI cell of the `{prefix}_acc/_lo/_hi/_sd` columns of a row of numbers."""
    return ci_cell(row[f"{prefix}_acc"], row[f"{prefix}_lo"], row[f"{prefix}_hi"], row.get(f"{prefix}_sd"))


def chance_or_stats_cell(row: dict, prefix: str) -> str:
    """The chance row's level alone; any other row's CI cell."""
    return pct(row[f"{prefix}_acc"]) if row["condition"] == "chance" else stats_cell(row, prefix)


def delta_cell(d) -> str:
    return NA if _missing(d) else f"{100 * d:+.1f}"


def gap_cell(est, lo, hi) -> str:
    """A signed change in points with its CI: '+12.5 [3.1, 20.0]' signed both ends."""
    return NA if _missing(est) else f"{100 * est:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def p_cell(p) -> str:
    return NA if _missing(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")


def n_suffix(numeric: pl.DataFrame, column: str) -> str:
    """' (n=12)' for a column title when every condition has the same number of items, else ''."""
    ns = numeric.filter(pl.col("condition") != "chance")[column].unique().to_list()
    return f" (n={ns[0]})" if len(ns) == 1 else ""


def labelling_metric_name(metrics) -> str:
    """'mAP' when any labelling row is scored by mAP (a multi-label corpus), else 'accuracy'."""
    return "mAP" if "map" in list(metrics) else "accuracy"


# ---------------------------------------------------------------- the one shared formatter
_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
        ">": r"\textgreater{}", "–": "--", "Δ": r"$\Delta$"}


def _tex_cell(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in text)


def render_markdown(display: pl.DataFrame, title: str, notes: Sequence[str]) -> str:
    return "\n".join([f"**{title}**", "", markdown_table(display).rstrip("\n"), "", *notes]) + "\n"


def render_latex(display: pl.DataFrame, title: str, notes: Sequence[str]) -> str:
    ncol = len(display.columns)
    labels = max(1, sum(1 for _ in takewhile(lambda c: c in LABEL_COLUMNS, display.columns)))  # left-aligned
    row = lambda cells: " & ".join(_tex_cell(str(c)) for c in cells) + r" \\"  # noqa: E731
    out = [f"% {_tex_cell(title)}", r"\begin{tabular}{" + "l" * labels + "r" * (ncol - labels) + "}", r"\toprule",
           row(display.columns), r"\midrule", *[row(r) for r in display.iter_rows()], r"\bottomrule"]
    out += [rf"\multicolumn{{{ncol}}}{{l}}{{\footnotesize {_tex_cell(n)}}} \\" for n in notes]
    out += [r"\end{tabular}"]
    return "\n".join(out) + "\n"


def write_table(numeric: pl.DataFrame, display: pl.DataFrame, *, csv, md, tex=None,
                title: str, notes: Sequence[str] = ()) -> None:
    """Write one table: numbers to CSV, the formatted cells to Markdown and (given `tex`) LaTeX."""
    write_text(numeric.write_csv(float_precision=6), csv)
    write_text(render_markdown(display, title, notes), md)
    if tex:
        write_text(render_latex(display, title, notes), tex)
