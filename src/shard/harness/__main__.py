"""python -m shard.harness import LOGS [--hf results/export/hf] --out results/external/NAME

Reads an lmms-eval or lm-eval `--log_samples` output folder (shard.harness.importer) and writes the model's
per-item predictions under --out, whose folder name is the model's name in the tables once config
`external_models` lists it.
"""
from __future__ import annotations

import argparse
import sys

from shard.common import ShardError, setup_logging


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shard.harness", description=__doc__.split("\n\n")[1])
    commands = parser.add_subparsers(dest="command", required=True)
    imports = commands.add_parser("import", help="a --log_samples folder -> OUT/{condition}/semantic.jsonl")
    imports.add_argument("logs", help="the harness's --output_path (or any folder holding its samples files)")
    imports.add_argument("--hf", default="results/export/hf", help="the export the tasks ran on")
    imports.add_argument("--out", required=True, help="results/external/NAME: NAME is the model's row in the tables")
    args = parser.parse_args(argv)
    setup_logging()
    from shard.harness.importer import import_samples

    try:
        import_samples(logs=args.logs, hf=args.hf, out=args.out)
    except ShardError as err:
        sys.exit(f"shard: {err}")


if __name__ == "__main__":
    main()
