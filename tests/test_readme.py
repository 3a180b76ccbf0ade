"""The README's quoted tables: the check that CI runs after the default, and the update that writes them."""
from __future__ import annotations

import pytest

from shard import readme
from tests.fixtures import ROOT

README = """# Title

Some text.

<!-- quote: results/tables/a.md -->
| x |
|---|
| 1 |
<!-- end quote -->

More.
<!-- quote: results/tables/b.md -->
old
<!-- end quote -->
"""


def _tree(tmp_path, a="| x |\n|---|\n| 1 |\n", b="new\n"):
    (tmp_path / "results" / "tables").mkdir(parents=True, exist_ok=True)
    (tmp_path / "results/tables/a.md").write_text(a)
    (tmp_path / "results/tables/b.md").write_text(b)
    (tmp_path / "README.md").write_text(README)
    return tmp_path / "README.md"


def test_check_names_each_table_that_differs_then_update_fixes_it(tmp_path, capsys):
    path = _tree(tmp_path)
    problems = readme.differences(path, tmp_path)
    assert len(problems) == 1 and problems[0].startswith("results/tables/b.md: the README's quote differs")
    assert "-old" in problems[0] and "+new" in problems[0]
    with pytest.raises(SystemExit, match="1 quoted table"):
        readme.main(["check", "--readme", str(path), "--root", str(tmp_path)])
    assert readme.update(path, tmp_path) == 1
    assert readme.differences(path, tmp_path) == []
    text = path.read_text()
    assert text.startswith("# Title\n\nSome text.\n") and "More.\n" in text and "new\n<!-- end quote -->" in text
    readme.main(["check", "--readme", str(path), "--root", str(tmp_path)])
    assert "matches its file (2 checked)" in capsys.readouterr().out


def test_missing_table_and_missing_quotes_fail(tmp_path):
    path = _tree(tmp_path)
    (tmp_path / "results/tables/a.md").unlink()
    assert "not written" in readme.differences(path, tmp_path)[0]
    path.write_text("# nothing quoted\n")
    assert "no quoted table" in readme.differences(path, tmp_path)[0]


def test_the_default_items_hold_chance_for_every_surface_cue_baseline():
    """The README quotes the default's tables/artifacts.md (CI checks the quote against a fresh run): every
    text-only baseline's CI holds chance there."""
    quoted = readme.quotes((ROOT / "README.md").read_text())["results/tables/artifacts.md"]
    rows = [line for line in quoted.splitlines() if line.startswith("| ") and not line.startswith("| Baseline")]
    assert len(rows) >= 14 and all(row.rstrip(" |").endswith("yes") for row in rows), quoted
