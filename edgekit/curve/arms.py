"""The arms of a learning curve, read from a recipe's stages (each a lineage or baseline the recipe names).

    train stage that starts a model (no input, no distill)  -> 'train'      (from scratch: the small student,
                                                                              a small CNN)
      ... with pretrained weights, or an hf: encoder with head: -> 'fine-tune' (hf: head on frozen embeddings)
    prompted stage                                          -> 'zero-shot'  (flat line: uses no labels)
                                                              + '<id>:few-shot' (class prototypes for embedding,
                                                                in-context examples for llm / openai)

By default a curve runs every arm except the slow ones (an llm provider, and in-context few-shot, which sends
one long prompt per test sample); ``--arms`` names exactly which to run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgekit.errors import InputError

TRAINED = ("train", "fine-tune")
PROMPTED = ("zero-shot", "few-shot")


@dataclass(frozen=True)
class Arm:
    name: str  # the stage id, or '<id>:few-shot'
    kind: str  # train | fine-tune | zero-shot | few-shot
    stage: object  # the recipe's stage config (TrainConfig or PromptedConfig)
    model: object | None = None  # ModelConfig of a trained arm
    default: bool = True  # run without --arms

    @property
    def trained(self) -> bool:
        return self.kind in TRAINED

    @property
    def flat(self) -> bool:
        return self.kind == "zero-shot"

    @property
    def provider(self) -> str | None:
        return getattr(self.stage, "provider", None)


def recipe_arms(recipe) -> list[Arm]:
    """Every arm the recipe's stages offer, in recipe order (trained arms first)."""
    trained, prompted = [], []
    made_model = False  # a train stage after one that produced a model continues it (recovery): not an arm
    for st in recipe.stages:
        if st.kind == "train":
            model = st.model or recipe.model
            if (
                st.distill is None
                and getattr(st, "input", None) is None
                and (st.model is not None or not made_model)
                and model
            ):
                pretrained = st.head is not None or bool(model.weights) or model.source.startswith("hf:")
                if model.source.startswith("hf:") and st.head is None:
                    pass  # full fine-tuning of an encoder per point: minutes each on a CPU; the head arm covers it
                else:
                    trained.append(Arm(st.id, "fine-tune" if pretrained else "train", st, model))
            made_model = True
        elif st.kind in ("prune", "distill", "import"):
            made_model = True
        elif st.kind == "prompted":
            prompted.append(Arm(st.id, "zero-shot", st, default=st.provider != "llm"))
            if st.provider in ("embedding", "llm", "openai"):
                prompted.append(Arm(f"{st.id}:few-shot", "few-shot", st, default=st.provider == "embedding"))
    return trained + prompted


def select(arms: Sequence[Arm], names: str | None) -> list[Arm]:
    """The default arms, or exactly the comma-separated ``names`` (in recipe order); InputError on an unknown one."""
    if not arms:
        raise InputError(
            "the recipe has no arm for a curve: add a train stage (a model trained from its start) or a prompted stage"
        )
    if names is None:
        return [a for a in arms if a.default]
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    known = {a.name for a in arms}
    unknown = [n for n in wanted if n not in known]
    if unknown or not wanted:
        raise InputError(
            f"--arms: unknown arm {unknown[0] if unknown else repr(names)}; "
            f"the recipe's arms: {', '.join(a.name for a in arms)}"
        )
    return [a for a in arms if a.name in wanted]


def for_detection(arms: Sequence[Arm], named: bool) -> tuple[list[Arm], list[str]]:
    """(the arms a detection curve runs, the prompted ones it leaves out): a point of a prompted detector (a VLM
    asked for boxes, an open-vocabulary model) is the prompted stage's mAP row, which `edgekit shrink` scores; the
    curve trains detectors only. Naming a prompted arm with --arms is an InputError."""
    left_out = [a.name for a in arms if not a.trained]
    if left_out and named:
        raise InputError(
            f"--arms: {left_out[0]} is a prompted arm of a detection recipe; a detection curve trains detectors only "
            "(the prompted row's mAP is in `edgekit shrink`'s report)"
        )
    kept = [a for a in arms if a.trained]
    if not kept:
        raise InputError("the recipe has no arm for a detection curve: add a train stage (a detector from its start)")
    return kept, left_out
