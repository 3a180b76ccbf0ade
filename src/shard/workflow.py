"""Glue between Snakemake's `script:` directive and the package: the only place that reads `snakemake`.

A rule's named inputs, outputs and params become the keyword arguments of one stage function, so
the function can be called the same way from tests:

    rule clips:
        input: ...
        output: clips_parquet=..., index=...
        params: corpus=config["corpus"], ...
        script: "scripts/clips.py"      # run(snakemake, shard.dataset.clips.gather_clips)
"""
from __future__ import annotations

import contextlib
import inspect
import logging
import os
import sys
from typing import Callable

from shard.common import ShardError, setup_logging

log = logging.getLogger("shard")


def _named(namedlist) -> dict:
    return {k: v for k, v in namedlist.items()}


@contextlib.contextmanager
def _redirect_std(log_file: str):
    """Send stdout/stderr (progress bars, warnings, C-level prints) to the rule's log file."""
    fh = open(log_file, "a", buffering=1)
    saved = os.dup(1), os.dup(2)
    sys.stdout.flush(); sys.stderr.flush()
    os.dup2(fh.fileno(), 1); os.dup2(fh.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush(); sys.stderr.flush()
        os.dup2(saved[0], 1); os.dup2(saved[1], 2)
        fh.close()


def run(smk, fn: Callable) -> None:
    """Call `fn` with the job's named inputs, outputs and params (and `threads` where it takes them), its
    stdout and stderr in the rule's log, which ends with the job's peak memory; a ShardError ends the job with
    its one-line message."""
    kwargs = {**_named(smk.input), **_named(smk.output), **_named(smk.params)}
    if "threads" in inspect.signature(fn).parameters:
        kwargs["threads"] = smk.threads
    log_file = smk.log[0] if smk.log else None
    ctx = _redirect_std(log_file) if log_file else contextlib.nullcontext()
    with ctx:
        setup_logging()  # stderr, which now is the rule's log file
        try:
            fn(**kwargs)
        except ShardError as err:
            log.error("%s", err)
            raise SystemExit(f"shard: {err}") from None
        log.info("peak memory %.0f MB", peak_rss_mb())  # what to ask a cluster for (profiles/slurm: mem_mb)


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB, the kernel's own high-water mark (Snakemake's `benchmark:`
    samples it, and misses the peak of a job that ends within a few seconds)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
