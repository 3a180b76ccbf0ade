"""WordNet setup from Debian's files (shard.dataset.wordnet), and its reader on the real WordNet."""
from __future__ import annotations

import os
import subprocess
import sys

import nltk
import pytest

from shard.dataset import wordnet as W
from shard.common import ShardError, sha1_file

@pytest.fixture(scope="module")
def wn(wordnet_reader):
    return wordnet_reader


def test_ensure_wordnet_copies_debian_files_and_generates_lexnames(tmp_path, monkeypatch):
    monkeypatch.setenv("NLTK_DATA", str(tmp_path))
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    info = W.ensure_wordnet()
    root = tmp_path / "corpora" / "wordnet"
    assert info["version"] == "3.0" and set(info) == {"origin", "checksum", "version"}  # no path of this machine
    assert info["origin"].startswith("debian:")
    for name in ("data.noun", "index.noun", "noun.exc", "data.verb", "index.sense", "cntlist.rev"):
        assert (root / name).is_file() and not (root / name).is_symlink()
    lexnames = (root / "lexnames").read_text().splitlines()
    assert len(lexnames) == 45 and lexnames[0] == "00\tadj.all\t3" and lexnames[44] == "44\tadj.ppl\t3"
    assert lexnames[5] == "05\tnoun.animal\t1"
    assert info["checksum"] == sha1_file(root / "data.noun")
    wn = W.reader()
    assert "domesticated" in wn.synset("dog.n.01").definition()
    assert wn.synset("dog.n.01").lexname() == "noun.animal"
    assert W.ensure_wordnet() == info  # the second call finds the copy and reports the same origin


def test_ensure_wordnet_without_any_wordnet_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "nltk")])
    monkeypatch.setenv("NLTK_DATA", str(tmp_path / "nltk"))
    monkeypatch.setattr(W, "DEBIAN_DIR", tmp_path / "no_wordnet")
    with pytest.raises(ShardError, match="apt-get install wordnet-base wordnet-sense-index"):
        W.ensure_wordnet()
    assert not (tmp_path / "nltk" / "corpora" / "wordnet").exists()  # nothing half-copied


def test_cli_prints_the_source(tmp_path):
    env = {**os.environ, "NLTK_DATA": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "shard.dataset.wordnet"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("WordNet 3.0 at ") and "sha1(data.noun)=" in out.stdout


def test_incomplete_wordnet_dir_is_one_clear_error(tmp_path, monkeypatch):
    (tmp_path / "corpora" / "wordnet").mkdir(parents=True)  # e.g. an interrupted manual copy
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    with pytest.raises(ShardError, match="incomplete"):
        W.ensure_wordnet()


def test_sense_names_resolve(wn):
    assert wn.synset("canine.n.02") in wn.synset("dog.n.01").hypernyms()
    assert "automobile" in wn.synset("car.n.01").lemma_names()
    assert wn.synset("thunder.n.01").lexname() == "noun.event"
