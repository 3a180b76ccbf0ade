"""The README quotes result tables; this keeps the quotes equal to the files a run wrote.

A quoted table sits between two markers in README.md:

    <!-- quote: results/tables/semantic.md -->
    ...the file's content...
    <!-- end quote -->

`python -m shard.readme check` fails (exit 1, naming each table that differs) when a quote is not the
file's current content; CI runs it after running the embedded default from a fresh clone.
`python -m shard.readme update` rewrites every quote from its file.
"""
from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

QUOTE = re.compile(r"(<!-- quote: (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- end quote -->)", re.S)


def quotes(readme: str) -> dict[str, str]:
    """path -> quoted text, in README order."""
    return {m["path"]: m["body"] for m in QUOTE.finditer(readme)}


def differences(readme_path: Path, root: Path) -> list[str]:
    """One message (with a diff) per quote that differs from its file; empty when all match."""
    out = []
    found = quotes(readme_path.read_text())
    if not found:
        return [f"{readme_path}: no quoted table (<!-- quote: PATH --> ... <!-- end quote -->)"]
    for path, body in found.items():
        file = root / path
        if not file.is_file():
            out.append(f"{path}: quoted in {readme_path.name} but not written; run the workflow first")
            continue
        actual = file.read_text()
        if body != actual:
            diff = "".join(difflib.unified_diff(body.splitlines(True), actual.splitlines(True),
                                                f"{readme_path.name} (quoted)", path))
            out.append(f"{path}: the README's quote differs from the file\n{diff}")
    return out


def update(readme_path: Path, root: Path) -> int:
    """Rewrite every quote from its file; return how many changed."""
    text = readme_path.read_text()
    changed = 0

    def fill(m: re.Match) -> str:
        nonlocal changed
        actual = (root / m["path"]).read_text()
        changed += actual != m["body"]
        return m.group(1) + actual + m.group(4)

    readme_path.write_text(QUOTE.sub(fill, text))
    return changed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shard.readme", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["check", "update"])
    parser.add_argument("--readme", default="README.md")
    parser.add_argument("--root", default=".", help="the folder the quoted paths are relative to")
    args = parser.parse_args(argv)
    readme, root = Path(args.readme), Path(args.root)
    if args.action == "update":
        print(f"{update(readme, root)} quoted table(s) updated in {readme}")
        return
    problems = differences(readme, root)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        raise SystemExit(f"{len(problems)} quoted table(s) in {readme} differ from the run's files; "
                         "if the new numbers are right, run `python -m shard.readme update` and commit")
    print(f"every quoted table in {readme} matches its file ({len(quotes(readme.read_text()))} checked)")


if __name__ == "__main__":
    main()
