"""Examples/s of mini_ltu pretraining with length bucketing (epoch_order with `lengths`) vs the plain shuffle.

    HF_HUB_OFFLINE=1 python bench/length_bucketing.py [--epochs 2] [--batch 32]

The prompts mix as pretraining's do (shard.models.pretrain): a caption and a label question per clip in the
original format (the audio block first), and text-only facts in the fact template and in every SHARD wording with
the label written as text, which are longer. Both runs train the same fresh mini_ltu (all parameters, as in
stage 2) for whole epochs of the same examples with train_loop; only the order differs. Prints the padded
tokens per example, the examples/s of each and their ratio, and the peak resident memory.
"""
from __future__ import annotations

import argparse
import resource
import time

from shard.kernels import pin_cpu_kernels

pin_cpu_kernels()  # the kernels every workflow job computes with; before torch loads them

import numpy as np  # noqa: E402
import torch  # noqa: E402

from shard.common import rng  # noqa: E402
from shard.models import AudioLLM, AudioProcessor  # noqa: E402
from shard.models.mini_ltu import random_mini_ltu  # noqa: E402
from shard.models.train import Examples, epoch_order, set_threads, train_loop  # noqa: E402
from shard.prompts import templates  # noqa: E402

PRETRAIN = {"hidden_size": 128, "layers": 4, "heads": 4, "audio_tokens": 8}
LABELS = ["dog", "church bell", "siren", "car horn", "piano", "train"]
WORDS = ["canine", "bell", "alarm", "device", "animal", "instrument", "signal", "keyboard instrument",
         "railroad train", "warning device"]


def make_data() -> Examples:
    g = np.random.default_rng(0)
    clips = {f"c{i}": g.normal(-40, 15, (64, 101)).astype(np.float16) for i in range(256)}
    texts, clip_ids, answers = [], [], []
    for i, clip in enumerate(clips):  # the audio prompts: a caption and a label question per clip
        label = LABELS[i % len(LABELS)]
        texts += [templates.to_original(templates.CAPTION.text),
                  templates.to_original(templates.render_one(templates.LABEL_QA.text, label=label))]
        clip_ids += [[clip], [clip]]
        answers += [label, templates.YES]
    wordings = [t for t in templates.all_templates() if t.relation == "hypernym" and t.question_format]
    for label in LABELS:  # the facts, in the fact template and the SHARD wordings; 4-way ones list options
        for i, word in enumerate(WORDS):
            for t in wordings:
                options = [WORDS[(i + k) % len(WORDS)] for k in range(4)] if t.question_format == "mc4" else None
                text = templates.render_one(t.text, options, word=word if options is None else "", a=label,
                                            b=word if options is None else "")
                texts.append(templates.labels_in_place(text, [[label]]) if t.task == "semantic" else text)
                clip_ids.append([])
                answers.append(templates.NO if options is None else word)
    return Examples(texts, clip_ids, answers, "original", lambda ids: [clips[c] for c in ids])


def padded_per_example(lengths: np.ndarray, order: np.ndarray, batch: int) -> float:
    batches = [order[i:i + batch] for i in range(0, len(order), batch)]
    return sum(len(b) * lengths[b].max() for b in batches) / len(order)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    set_threads(2)
    data = make_data()
    model, tok = random_mini_ltu([templates.LTU_PROMPT, *data.texts, *data.answers], {**PRETRAIN, "vocab_size": 500},
                                 required=[*LABELS, *WORDS, templates.YES, templates.NO])
    processor = AudioProcessor(tok, PRETRAIN["audio_tokens"])
    lengths = data.lengths(processor)
    for name, lens in (("plain", None), ("bucketed", lengths)):
        order = epoch_order(len(data), rng(0, "bench", "epoch", 0), lengths=lens, batch_size=args.batch)
        print(f"{name:9s}: {padded_per_example(lengths, order, args.batch):5.1f} tokens per example after "
              f"padding ({lengths.mean():.1f} without)")
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    results = {}
    for name in ("plain", "bucketed", "plain", "bucketed"):  # interleaved twice: drift hits both alike
        model.load_state_dict(initial)
        llm = AudioLLM(model, processor, torch.device("cpu"), "mini_ltu")
        t0 = time.perf_counter()
        train_loop(llm, data, list(model.parameters()), epochs=args.epochs, max_steps=None, batch_size=args.batch,
                   grad_accum=1, lr=8e-4, warmup_steps=10, grad_clip=1.0, seed=0, stage="bench",
                   lengths=lengths if name == "bucketed" else None)
        results.setdefault(name, []).append(args.epochs * len(data) / (time.perf_counter() - t0))
    plain, bucketed = max(results["plain"]), max(results["bucketed"])
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"plain shuffle      : {plain:7.1f} examples/s")
    print(f"length bucketing   : {bucketed:7.1f} examples/s")
    print(f"ratio              : {bucketed / plain:.2f}x  ({len(data)} examples, batch {args.batch}, "
          f"{args.epochs} epochs, {torch.get_num_threads()} threads; peak RSS {peak_mib:.0f} MiB)")


if __name__ == "__main__":
    main()
