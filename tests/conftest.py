"""Fixtures shared by several test files."""
from __future__ import annotations

from shard.kernels import pin_cpu_kernels

pin_cpu_kernels()  # before numpy and torch load: the tests compute with the kernels the workflow's jobs use

import nltk
import pytest

from shard.dataset import wordnet as W


@pytest.fixture(scope="session")
def wordnet_reader(tmp_path_factory):
    """The real WordNet; set up under a temporary NLTK_DATA when nltk has none (home stays untouched)."""
    with pytest.MonkeyPatch.context() as mp:
        if W._nltk_root() is None:
            data = tmp_path_factory.mktemp("nltk_data")
            mp.setenv("NLTK_DATA", str(data))
            mp.setattr(nltk.data, "path", [str(data), *nltk.data.path])
        W.ensure_wordnet()
        yield W.reader()


def second_clone_config() -> dict:
    """The tiny config as tiny_runs' second clone (local or Slurm) runs it: with layout settings that must not
    change a byte of results/ outside the shard layout, so that the byte-for-byte comparison of the two clones
    checks them for free (tests/test_workflow.py::test_two_folders_same_bytes): clips.shards: 3 cuts clips and
    features into 3 jobs. evaluate.shards stays 1 unless SHARD_TEST_EVALUATE_SHARDS names more: every evaluation
    then runs as that many shard jobs and a gather, about 30 more jobs (5 more minutes on Slurm) than CI's time
    allows; tests/test_evaluate.py checks the gather against one job in CI."""
    import os

    from tests.fixtures import tiny_workflow_config

    cfg = tiny_workflow_config()
    cfg["clips"]["shards"] = 3
    cfg["evaluate"]["shards"] = int(os.environ.get("SHARD_TEST_EVALUATE_SHARDS", "1"))
    return cfg


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory, wordnet_reader):
    """build_tiny_shard's results with export/hf written (about 80 items over 12 clips; ~20 s): read, never
    changed, by tests/test_export.py and tests/test_harness.py."""
    from tests.fixtures import build_tiny_shard, export_tiny

    results = build_tiny_shard(tmp_path_factory.mktemp("export"))
    export_tiny(results, results / "export" / "hf")
    return results


@pytest.fixture(scope="session")
def slurm_run(tmp_path_factory):
    """The tiny config through a local Slurm (tests/slurm_run.py) in a second clone, or the reason it cannot run
    here (a str). A Slurm this fixture started is stopped afterwards, also when a test fails."""
    from tests import slurm_run as slurm
    from tests.fixtures import copy_project

    reason = slurm.why_not()
    started = False
    if reason is None:
        reason, started = slurm.start()
    if reason is not None:
        yield reason
        return
    try:
        import yaml

        project = copy_project(tmp_path_factory.mktemp("clones") / "second_checkout_elsewhere")
        (project / "tiny.yaml").write_text(yaml.safe_dump(second_clone_config()))
        yield slurm.run(project, tmp_path_factory.mktemp("slurm_log") / "snakemake.log")
    finally:
        if started:
            slurm.stop()


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory, slurm_run):
    """The tiny config run end to end from two copies of the project in differently named folders of
    different path lengths (a user's two clones), the second with its clips in shards (second_clone_config).
    Where Slurm can run, the second clone is the Slurm run (`slurm_run`): the cluster path
    then has to give the same bytes as the local one, for one run less."""
    import yaml

    from tests.fixtures import copy_project, snakemake, tiny_workflow_config

    first = copy_project(tmp_path_factory.mktemp("clones") / "a")
    (first / "tiny.yaml").write_text(yaml.safe_dump(tiny_workflow_config()))
    out = snakemake(first)
    assert out.returncode == 0, out.stderr[-4000:]
    if not isinstance(slurm_run, str):
        assert slurm_run.returncode == 0, slurm_run.log[-4000:]
        return [first, slurm_run.project]
    second = copy_project(tmp_path_factory.mktemp("clones") / "second_checkout_elsewhere")
    (second / "tiny.yaml").write_text(yaml.safe_dump(second_clone_config()))
    out = snakemake(second)
    assert out.returncode == 0, out.stderr[-4000:]
    return [first, second]


@pytest.fixture(scope="session")
def two_models_on_a_tiny_corpus(tmp_path_factory):
    """One run shared by two tests: a tiny mini_ltu (pretrained here, log-mel) beside tiny random Qwen2-Audio,
    Audio Flamingo 3 and Voxtral (hf backend, each its own Whisper front end) through every table, on a 2-label
    manifest corpus of 8 usable clips with a missing and a corrupt row (tests/test_backends_workflow.py: the
    models side by side; tests/test_corpora.py: a corpus that small)."""
    import yaml

    from tests.fixtures import copy_project, snakemake, tiny_manifest_project
    from tests.hf_tiny import build_tiny, installed

    tmp = tmp_path_factory.mktemp("two_models")
    project = tiny_manifest_project(copy_project(tmp / "project"), per_label=4)
    cfg = yaml.safe_load((project / "tiny.yaml").read_text())
    cfg["features"]["frontends"] = ["logmel", "hf"]
    cfg["models"] = {"mini_ltu": {}, **{
        name: {"model": {"backend": "hf", "base": str(build_tiny(name, tmp / "models")), "frontend": "hf",
                         "device": "cpu"}} for name in installed()}}
    (project / "tiny.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))  # mini_ltu first: what models compares to
    out = snakemake(project)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return project
