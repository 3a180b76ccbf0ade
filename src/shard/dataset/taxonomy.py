"""Walks over WordNet's noun graph, on nltk synsets: the steps the relation walks (shard.dataset.relations) and the
negative guards (shard.dataset.wordbank) take. No import of nltk: a synset brings its own methods."""
from __future__ import annotations


def parents(s):
    """Direct hypernyms, instance hypernyms included (Paris -> city)."""
    return s.hypernyms() + s.instance_hypernyms()


def children(s):
    """Direct hyponyms, instance hyponyms included."""
    return s.hyponyms() + s.instance_hyponyms()


def by_depth(start, step, max_depth: int) -> dict:
    """synset -> shortest distance from `start` along `step` (1..max_depth), over all paths."""
    depth, frontier = {}, [start]
    for d in range(1, max_depth + 1):
        nxt = []
        for s in frontier:
            for t in step(s):
                if t not in depth and t != start:
                    depth[t] = d
                    nxt.append(t)
        frontier = nxt
    return depth


def lemma_words(synsets) -> set[str]:
    """The lemma names of `synsets`, lowercase (underscores kept, as WordNet writes them)."""
    return {l.name().lower() for s in synsets for l in s.lemmas()}


def has_parts(s):
    """What WordNet says a thing is made of: its part and substance meronyms."""
    return s.part_meronyms() + s.substance_meronyms()


def part_closure(synset) -> set:
    """Every synset that names something the thing has, under any inherited path: the parts (and
    substances) of the synset and of all its hypernyms, their parts in turn, and what those parts are
    kinds of (a bird's wing makes "limb" true too). A meronym negative must name none of them."""
    holders = {synset, *by_depth(synset, parents, 100)}
    parts = {p for h in holders for p in has_parts(h)}
    parts |= {q for p in list(parts) for q in by_depth(p, has_parts, 100)}
    return parts | {a for p in parts for a in by_depth(p, parents, 100)}
