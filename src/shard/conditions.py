"""The study's conditions, defined once: every table row, every evaluation job, every figure point.

A condition is a declarative record (lm-evaluation-harness style): which model is scored (the base
model, or the base plus the LoRA adapter trained on one scale of interleaved prompts), in which prompt
format, with what in place of the audio, and on which tasks. The audio is the clip itself; silence
(the `blind` controls: what a model answers from the text alone); or the clip's label written in the
placeholder's slot (the `text_oracle` controls: what a model knows about the relation when perception
is given, as in SAKURA). Every model gets both controls, so a fine-tuning gain can be told apart from a
learnt text prior. Rules, evaluation and tables all read these records; none parses a condition's name.
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
    audio: str  # clip | silence | label
    meaning: str
    tasks: tuple[str, ...] = TASKS  # the controls are scored on SHARD only: labelling them is moot

    def as_dict(self) -> dict:
        return asdict(self)


def study_conditions(scales: dict[str, int], ft_original: bool) -> list[Condition]:
    """Rows of every table, in table order: the base model in both formats and its controls, then each
    fine-tuned scale (interleaved at test) with its controls, and with `ft_original` each fine-tuned model
    in the original format."""
    semantic = ("semantic",)
    conds = [
        Condition("original", "original", None, "clip", "base model, audio first (LTU's format)"),
        Condition("zeroshot_interleaved", "interleaved", None, "clip", "base model, audio at its placeholder"),
        Condition("blind", "interleaved", None, "silence", "base model, every clip replaced by silence"),
        Condition("text_oracle", "interleaved", None, "label", "base model, each clip's label as text in its place",
                  semantic),
    ]
    for s, n in scales.items():
        conds += [
            Condition(f"ft_{s}", "interleaved", s, "clip", f"base + LoRA on {n:,} interleaved prompts"),
            Condition(f"blind_ft_{s}", "interleaved", s, "silence", f"ft_{s}, every clip replaced by silence",
                      semantic),
            Condition(f"text_oracle_ft_{s}", "interleaved", s, "label", f"ft_{s}, each clip's label as text",
                      semantic),
        ]
    if ft_original:
        conds += [Condition(f"ft_{s}_original", "original", s, "clip",
                            f"base + LoRA on {n:,} interleaved prompts, tested audio first")
                  for s, n in scales.items()]
    return conds


def with_task(conditions: list[Condition], task: str) -> list[Condition]:
    """The conditions scored on `task`, in table order."""
    return [c for c in conditions if task in c.tasks]


def controls(conditions: list[dict], audio: str) -> dict[str | None, dict]:
    """scale -> the condition of that model (None: the base) with `audio` in place of the clips."""
    return {c["scale"]: c for c in conditions if c["audio"] == audio}


def scaling_curve(conditions: list[dict], scales: dict[str, int]) -> list[tuple[dict, int]]:
    """(condition, training prompts) along the trade-off curve: the base model at 0, then each scale,
    all interleaved with real audio."""
    curve = [(c, 0 if c["scale"] is None else int(scales[c["scale"]])) for c in conditions
             if c["prompt_format"] == "interleaved" and c["audio"] == "clip"]
    return sorted(curve, key=lambda cn: cn[1])
