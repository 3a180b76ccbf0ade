"""The functions of the exported tasks' utils.py: real code here (tested), embedded there by source
(shard.harness.tasks). Each uses only the standard library, numpy/soundfile/datasets (imported inside: what
lmms-eval's environment has) and the names utils.py embeds beside it (AUDIO, to_original, extract_answer,
labels_in_place), so the same source runs in a venv without the `shard` package.
"""
from __future__ import annotations

import io
import os
import tempfile

from shard.evaluation.evaluate import extract_answer
from shard.prompts.templates import AUDIO, labels_in_place, to_original

METRIC = "shard_acc"  # lmms-eval's per-sample log keeps this metric's dict: the item and clip it scored


# ---------------------------------------------------------------- lmms-eval: audio + generation
def process_docs(dataset, question_format):
    """The items of one question format, their audio left undecoded: `datasets` 4+ decodes Audio through
    torchcodec (FFmpeg); doc_to_visual reads the WAV bytes with soundfile instead."""
    from datasets import Audio

    dataset = dataset.cast_column("audio", Audio(sampling_rate=dataset.features["audio"].sampling_rate, decode=False))
    return dataset.filter(lambda fmt: fmt == question_format, input_columns="format")


def process_docs_yesno(dataset):
    return process_docs(dataset, "yesno")


def process_docs_mc4(dataset):
    return process_docs(dataset, "mc4")


def doc_to_visual(doc):
    """The clip as lmms-eval's audio models take it: [{"array": float32 samples, "sampling_rate": Hz}]."""
    import soundfile

    samples, rate = soundfile.read(io.BytesIO(doc["audio"]["bytes"]), dtype="float32")
    return [{"array": samples, "sampling_rate": rate}]


def doc_to_text(doc):
    """The question in SHARD's original (LTU) format, the model hearing the clip first: "<audio>" becomes
    "the sound" (to_original), the options list of mc4 items already in the question."""
    return to_original(doc["question"])[len(AUDIO):]


def clip_file(doc):
    """The clip as a WAV file (what chat-style models read), written once under the temp folder."""
    folder = os.path.join(tempfile.gettempdir(), "shard_clips")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, os.path.basename(doc["audio"]["path"]))
    if not os.path.exists(path):
        partial = f"{path}.{os.getpid()}.part"
        with open(partial, "wb") as fh:
            fh.write(doc["audio"]["bytes"])
        os.replace(partial, path)
    return path


def doc_to_messages(doc):
    """One user turn for chat-style models: the clip, then the question (the clip first, as doc_to_text)."""
    return [{"role": "user", "content": [{"type": "audio", "url": clip_file(doc)},
                                         {"type": "text", "text": doc_to_text(doc)}]}]


def process_results(doc, results):
    """The answer parsed strictly, as `evaluate.mode: generate` parses it; the logged dict names the item."""
    options = list(doc["options"])
    index, failure = extract_answer(results[0], options, doc["format"])
    return {METRIC: {"item_id": doc["item_id"], "clip_id": doc["clip_id"], "relation": doc["relation"],
                     "format": doc["format"], "prediction": None if index is None else options[index],
                     "correct": index == doc["answer_index"], "parse_failure": failure}}


def accuracy(results):
    """lmms-eval's aggregation of METRIC: the share of items answered right (parse failures count wrong)."""
    return sum(bool(r["correct"]) for r in results) / len(results) if results else float("nan")


# ---------------------------------------------------------------- lm-eval: the text oracle
def text_oracle_text(doc):
    """The interleaved question with the clip's label written in its `<audio>` slot, as the text_oracle
    condition writes it (labels_in_place): what a text LLM knows of the relation when perception is given."""
    return labels_in_place(doc["question"], [[doc["label"]]])
