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
    """This job's peak resident memory in MB: the kernel's high-water mark of its address space (VmHWM), which
    Snakemake's `benchmark:` samples and misses for a job that ends within seconds. Not getrusage's ru_maxrss:
    Linux carries that across fork and exec, so every script job would report at least Snakemake's own memory."""
    from pathlib import Path

    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource  # not Linux: the closest there is

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
