"""What produced a table, written beside it as tables/{name}.provenance.json."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from shard.common import config_hash, package_versions, sha1_file, write_json
from shard.kernels import PORTABLE_CPU_KERNELS
from shard.reporting.evaluations import Evaluations, every_file
from shard.reporting.render import write_table


def write_provenance(path, *, config: dict, inputs: Iterable[str], wordnet_source,
                     summaries: Iterable[str]) -> None:
    """Config hash (of the config the rules pass: shard.config.outcome_config's, the same for any layout), package
    versions, the CPU kernels in force (shard.kernels.pin_cpu_kernels), WordNet checksum, the identity of the model
    behind every evaluation (keyed by its summary's path: model, seed and condition), and the sha1 of every input."""
    wordnet = json.loads(Path(wordnet_source).read_text())
    models = {str(s): json.loads(Path(s).read_text())["model"] for s in summaries}
    cpu_kernels = {key: os.environ.get(key) for key in PORTABLE_CPU_KERNELS}
    write_json({"config_hash": config_hash(config), "packages": package_versions(), "cpu_kernels": cpu_kernels,
                "wordnet": wordnet,
                "models": models, "seed": config["seed"],
                "bootstrap": config["evaluate"]["bootstrap"],
                "inputs": {str(p): sha1_file(p) for p in inputs}}, path)


def publish_table(numeric, display, title: str, notes: Sequence[str], *, predictions: Mapping[str, Evaluations],
                  summaries: Mapping[str, Evaluations], config: dict, wordnet_source, csv, md, provenance,
                  tex=None, data: Sequence[str] = ()) -> None:
    """Write a table built from `predictions` ({task: {(model, seed, condition): file}}) and the workflow's `data`
    files (registry.Table.data): its numbers and cells (shard.reporting.render.write_table), and its provenance
    from every file it read."""
    write_table(numeric, display, csv=csv, md=md, tex=tex, title=title, notes=notes)
    write_provenance(provenance, config=config, inputs=[*every_file(predictions), *map(str, data)],
                     wordnet_source=wordnet_source,
                     summaries=every_file(summaries))
