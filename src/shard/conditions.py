"""The study's conditions, defined once: every table row, every evaluation job, every figure point.

A condition is a declarative record (lm-evaluation-harness style): which model is scored (the base
model, or the base plus the LoRA adapter trained on one scale of interleaved prompts), in which prompt
format, and with what in place of the audio (the clip itself, or silence for the `blind` control).
Rules, evaluation and tables all read these records; none parses a condition's name.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

BASELINE = "original"
TASKS = ("semantic", "labelling")  # SHARD reasoning items; plain audio labelling


@dataclass(frozen=True)
class Condition:
    name: str
    prompt_format: str  # original (audio first, LTU) | interleaved (audio at its placeholder)
    scale: str | None  # fine-tuned on prompts/train_{scale}.parquet; None: the base model
    audio: str  # clip | silence
    meaning: str

    def as_dict(self) -> dict:
        return asdict(self)


def study_conditions(scales: dict[str, int], ft_original: bool) -> list[Condition]:
    """Rows of every table, in table order: the base model in both formats, the blind control, each
    fine-tuned scale (interleaved at test), and with `ft_original` each fine-tuned model in the original format."""
    conds = [
        Condition("original", "original", None, "clip", "base model, audio first (LTU's format)"),
        Condition("zeroshot_interleaved", "interleaved", None, "clip", "base model, audio at its placeholder"),
        Condition("blind", "interleaved", None, "silence", "base model, every clip replaced by silence"),
    ]
    conds += [Condition(f"ft_{s}", "interleaved", s, "clip", f"base + LoRA on {n:,} interleaved prompts")
              for s, n in scales.items()]
    if ft_original:
        conds += [Condition(f"ft_{s}_original", "original", s, "clip",
                            f"base + LoRA on {n:,} interleaved prompts, tested audio first")
                  for s, n in scales.items()]
    return conds


def scaling_curve(conditions: list[dict], scales: dict[str, int]) -> list[tuple[dict, int]]:
    """(condition, training prompts) along the trade-off curve: the base model at 0, then each scale,
    all interleaved with real audio."""
    curve = [(c, 0 if c["scale"] is None else int(scales[c["scale"]])) for c in conditions
             if c["prompt_format"] == "interleaved" and c["audio"] == "clip"]
    return sorted(curve, key=lambda cn: cn[1])
