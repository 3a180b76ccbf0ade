"""Fixtures shared by several test files."""
from __future__ import annotations

import nltk
import pytest

from shard import wordnet as W


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


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """The tiny config run end to end from two copies of the project in differently named folders of
    different path lengths (a user's two clones)."""
    import yaml

    from tests.fixtures import copy_project, snakemake, tiny_workflow_config

    projects = []
    for name in ("a", "second_checkout_elsewhere"):
        project = copy_project(tmp_path_factory.mktemp("clones") / name)
        (project / "tiny.yaml").write_text(yaml.safe_dump(tiny_workflow_config()))
        out = snakemake(project)
        assert out.returncode == 0, out.stderr[-4000:]
        projects.append(project)
    return projects
