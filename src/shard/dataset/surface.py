"""Surface features of a word offered in a SHARD item, in one place: what the text-only baselines guess from
(shard.dataset.artifacts). The item generator needs none of them: its counterbalanced groups make every
feature of a word right exactly as often as chance (shard.dataset.items).

- Zipf frequency: wordfreq's English estimate (a phrase by wordfreq's own rule for phrases; 0: unknown);
- length in characters and in words;
- similarity to the question: cosine of all-MiniLM-L6-v2 embeddings of the word and of the question
  stem (the template text with its word slot left empty), computed in float64 and rounded to
  SIMILARITY_DECIMALS, so the items it shapes are the same on any machine.
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from shard.prompts import templates

SIMILARITY_DECIMALS = 4


def zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return float(zipf_frequency(word, "en"))


def n_words(word: str) -> int:
    return len(word.split())


def question_stem(template_id: str) -> str:
    """The question a reader sees around the words it asks about: the template text, slot left empty."""
    return " ".join(templates.by_id(template_id).text.replace("{word}", "").split())


def exact_embedder() -> Callable[[list[str]], np.ndarray]:
    """MiniLM in float64 (shard.evaluation.evaluate.sentence_embedder)."""
    from shard.evaluation.evaluate import sentence_embedder

    return sentence_embedder("cpu", exact=True)


def similarity(words: Iterable[str], template_ids: Iterable[str], embed) -> dict[tuple[str, str], float]:
    """(word, template_id) -> cosine similarity of the word to the template's question stem."""
    words, ids = sorted(set(words)), sorted(set(template_ids))
    stems = sorted({question_stem(t) for t in ids})
    if not words or not ids:
        return {}
    vectors = np.asarray(embed(words + stems), dtype=np.float64)
    cos = np.round(vectors[:len(words)] @ vectors[len(words):].T, SIMILARITY_DECIMALS)
    column = {s: j for j, s in enumerate(stems)}
    return {(w, t): float(cos[i, column[question_stem(t)]]) for i, w in enumerate(words) for t in ids}
