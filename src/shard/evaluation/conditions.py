"""The study's conditions, defined once: every table row, every evaluation job, every figure point.

A condition is a declarative record (lm-evaluation-harness style): which model is scored (the base
model, or the base plus the LoRA adapter of one fine-tuning run), in which prompt format, with what in
place of the audio, and on which tasks. The audio is the clip itself; silence (the `blind` controls:
what a model answers from the text alone); or the clip's label written in the placeholder's slot (the
`text_oracle` controls: what a model knows about the relation when perception is given, as in SAKURA).
Every model gets both controls, so a fine-tuning gain can be told apart from a learnt text prior.

A fine-tuning run (`Run`) is a scale (number of interleaved training prompts), a replay fraction (share
of labelling prompts mixed in, against forgetting) and an order (`mixed`, or `curriculum`: the replayed
labelling prompts first, then the rest). The config's first replay fraction and first order are the
default recipe; its runs are named by their scale alone (ft_400), the others say how they differ
(ft_400_r30, ft_400_r30_curriculum). Rules, evaluation and tables read these records; none parses a name.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

BASELINE = "original"
TASKS = ("semantic", "labelling")  # SHARD reasoning items; plain audio labelling


@dataclass(frozen=True)
class Run:
    """One fine-tuning job per model and seed: its adapter is models/{model}/seed{k}/ft_{name}."""
    name: str
    scale: str  # the scale's name (400, 10k): SCALES maps it to its number of prompts
    n_prompts: int
    replay: float
    order: str  # mixed | curriculum
    prompt_set: str  # prompts/train_{prompt_set}.parquet: the scale and the replay fraction


ORDERS = ("mixed", "curriculum")


def training_runs(scales: dict[str, int], replay_fractions=(0.0,), orders=("mixed",)) -> list[Run]:
    """Every (scale, replay fraction, order), the default recipe (first fraction, first order) first for each
    scale. A curriculum without replay equals the mixed run, so it is not repeated."""
    runs = []
    for scale, n in scales.items():
        for replay in replay_fractions:
            for order in orders:
                if replay == 0 and order != orders[0] and "mixed" in (order, orders[0]):
                    continue
                prompt_set = scale if replay == replay_fractions[0] else f"{scale}_r{round(100 * replay)}"
                name = prompt_set + ("" if order == orders[0] else f"_{order}")
                runs.append(Run(name, scale, int(n), float(replay), order, prompt_set))
    return runs


@dataclass(frozen=True)
class Condition:
    name: str
    prompt_format: str  # original (audio first, LTU) | interleaved (audio at its placeholder)
    run: str | None  # the fine-tuning run (Run.name) whose adapter is scored; None: the base model
    audio: str  # clip | silence | label
    meaning: str
    tasks: tuple[str, ...] = TASKS  # the controls are scored on SHARD only: labelling them is moot
    scale: str | None = None  # the run's scale, replay fraction and order (tables)
    n_prompts: int = 0
    replay: float = 0.0
    order: str | None = None
    default_recipe: bool = True  # on the scaling curve

    def as_dict(self) -> dict:
        return asdict(self)


def study_conditions(scales: dict[str, int], ft_original: bool, replay_fractions=(0.0,),
                     orders=("mixed",)) -> list[Condition]:
    """Rows of every table, in table order: the base model in both formats and its controls, then each
    fine-tuning run (interleaved at test) with its controls, and with `ft_original` each fine-tuned model
    in the original format."""
    semantic = ("semantic",)
    conds = [
        Condition("original", "original", None, "clip", "base model, audio first (LTU's format)"),
        Condition("zeroshot_interleaved", "interleaved", None, "clip", "base model, audio at its placeholder"),
        Condition("blind", "interleaved", None, "silence", "base model, every clip replaced by silence"),
        Condition("text_oracle", "interleaved", None, "label", "base model, each clip's label as text in its place",
                  semantic),
    ]
    runs = training_runs(scales, replay_fractions, orders)
    for r in runs:
        recipe = dict(scale=r.scale, n_prompts=r.n_prompts, replay=r.replay, order=r.order,
                      default_recipe=r.name == r.scale)
        how = f"LoRA on {r.n_prompts:,} interleaved prompts" + (
            "" if r.name == r.scale else f", {r.replay:.0%} labelling replayed, {r.order}")
        conds += [
            Condition(f"ft_{r.name}", "interleaved", r.name, "clip", f"base + {how}", **recipe),
            Condition(f"blind_ft_{r.name}", "interleaved", r.name, "silence", f"ft_{r.name}, every clip replaced by silence",
                      semantic, **recipe),
            Condition(f"text_oracle_ft_{r.name}", "interleaved", r.name, "label", f"ft_{r.name}, each clip's label as text",
                      semantic, **recipe),
        ]
    if ft_original:
        conds += [Condition(f"ft_{r.name}_original", "original", r.name, "clip",
                            f"base + LoRA on {r.n_prompts:,} interleaved prompts, tested audio first",
                            scale=r.scale, n_prompts=r.n_prompts, replay=r.replay, order=r.order,
                            default_recipe=r.name == r.scale)
                  for r in runs]
    return conds


def display_name(model: str, condition: str, several_models: bool) -> str:
    """A condition's name where answers stand side by side (figures, the browser): with its model's when
    several models share the view."""
    return f"{model}: {condition}" if several_models else condition


def with_task(conditions: list[dict], task: str) -> list[dict]:
    """The conditions (records) scored on `task`, in table order."""
    return [c for c in conditions if task in c["tasks"]]


def controls(conditions: list[dict], audio: str) -> dict[str | None, dict]:
    """run -> the condition of that model (None: the base) with `audio` in place of the clips."""
    return {c["run"]: c for c in conditions if c["audio"] == audio}


def interleaved_with_audio(conditions: list[dict]) -> list[dict]:
    """The conditions tested interleaved on the clips themselves: the base model and every fine-tuning run,
    one each (no control, no audio-first format)."""
    return [c for c in conditions if c["prompt_format"] == "interleaved" and c["audio"] == "clip"]


def scaling_curve(conditions: list[dict]) -> list[tuple[dict, int]]:
    """(condition, training prompts) along the trade-off curve: the base model at 0, then each scale's
    default-recipe run, all interleaved with real audio."""
    curve = [(c, c["n_prompts"]) for c in interleaved_with_audio(conditions) if c["default_recipe"]]
    return sorted(curve, key=lambda cn: cn[1])
