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
