"""A stage's cache key: the sha256 of everything that can change its output (DVC's rule, sorted-key JSON).

kind + config (not id/input) ─┐
input artifacts' content ─────┤
data fingerprint ─────────────┤   (train/prune: without limit_test)
recipe model + user code ─────┼──► sha256 ──► stages/<id>-<key[:16]>/
seed ─────────────────────────┤
edgekit source it runs ───────┤   (codehash: its module and what that imports)
package versions it imports ──┤
machine speed id ─────────────┤   (only a quantize stage that keeps the faster model, a prune stage that
                              │    picks its channel rounding by speed)
cfg.key_context(recipe) ──────┤   (only configs that read the environment or other stages' settings)
Hub models it reads ──────────┘   (only hf: sources and prompted models named by Hub id: commit + files)
"""

from __future__ import annotations

from edgekit.run.codehash import code_fingerprint, folder_hash, user_code_hash
from edgekit.errors import InputError
from edgekit.fsutil import resolve_path
from edgekit.hashing import hash_file, hash_obj
from edgekit.modelpath import resolve_model
from edgekit.recipe.read import LoadedRecipe
from edgekit.recipe.strict import StageConfig
from edgekit.run.registry import StageKind
from edgekit.run.stage import Artifact

# Stages whose output depends on the training data only: how much of the test split is scored (limit_test)
# changes their reported test metrics, never the model they write, so it must not re-train.
TRAIN_DATA_ONLY = frozenset({"train", "prune"})


def model_fingerprint(loaded: LoadedRecipe, model=None) -> str | None:
    """The recipe's model spec, plus the content of what it names: a local weights or onnx: file, the user's
    python:module:function source, an hf:DIR folder (editing any of them re-trains)."""
    model = model or loaded.recipe.model  # a stage's own model: (a second lineage) or the recipe's
    if model is None:
        return None
    weights = model.weights and resolve_path(model.weights, loaded.file.parent)
    prefix, _, arg = model.source.partition(":")
    if prefix == "onnx":  # a user's ONNX file: its bytes are the model
        weights = resolve_path(arg, loaded.file.parent)
    code = None
    if prefix == "python":
        code = user_code_hash(arg.partition(":")[0], loaded.file.parent)
    elif prefix == "hf":
        try:  # a Hub snapshot: its commit and blob hashes; a local folder: its bytes
            resolved = resolve_model(arg, loaded.file.parent)
            code = resolved.hub or folder_hash(resolved.path)
        except (InputError, OSError):
            code = None  # the train stage reports the missing folder
    return hash_obj(
        {
            "spec": model.model_dump(),
            "code": code,
            "weights": hash_file(weights) if weights and weights.is_file() else model.weights,
        }
    )


def stage_code(kind: StageKind) -> dict:
    """The edgekit source a stage kind runs (its module, what it imports, the data loaders) and the versions of
    the packages that code imports: an edit under edgekit/quant/ or an onnxruntime upgrade re-runs quantize."""
    return code_fingerprint((kind.run.__module__, "edgekit.data"))


def hub_models(cfg: StageConfig, kind: StageKind, inputs: list[Artifact], loaded: LoadedRecipe) -> list[dict]:
    """The Hugging Face Hub models a stage reads, resolved: id, revision, commit sha and files hash (edgekit.hub),
    for its key and its manifest. A model neither cached nor reachable is recorded as such: once it can be
    fetched its commit is known and the stage runs again."""
    from edgekit.hub import HubUnreachable

    names = []
    if kind.consumes in ("torch?", "model") and not inputs:
        model = getattr(cfg, "model", None) or loaded.recipe.model
        if model is not None and model.source.startswith("hf:"):
            names.append(model.source[3:])
    names += cfg.hub_models() if hasattr(cfg, "hub_models") else []
    out = []
    for name in names:
        try:
            resolved = resolve_model(name, loaded.file.parent)
        except HubUnreachable:
            out.append({"id": name, "unresolved": "not cached and the Hub unreachable"})
            continue
        except (InputError, OSError):
            continue  # the stage (or preflight) reports it in one line
        if resolved.hub:
            out.append(resolved.hub)
    return out


def stage_key(
    cfg: StageConfig,
    kind: StageKind,
    inputs: list[Artifact],
    loaded: LoadedRecipe,
    data_fingerprint: str,
    train_fingerprint: str | None = None,
    machine: str | None = None,
    hub: list[dict] | None = None,
) -> str:
    """sha256 of everything that can change the stage's output. ``machine`` is the speed fingerprint, given for
    stages whose output depends on a latency measurement (a quantize stage that keeps the faster model).
    ``hub``: the stage's hub_models, when the caller has resolved them already (the pipeline records them too)."""
    recipe = loaded.recipe
    starts_from_recipe_model = kind.consumes in ("torch?", "model") and not inputs
    fields = {
        "kind": cfg.kind,
        "config": cfg.model_dump(exclude={"id", "input"}),
        # the input's content, not its key: a re-run that reproduces the same bytes keeps downstream cached
        "inputs": [content_hash(a) for a in inputs],
        "data": train_fingerprint if cfg.kind in TRAIN_DATA_ONLY and train_fingerprint else data_fingerprint,
        # only a stage that builds the recipe's model (train from scratch) depends on it; others on their input
        "model": model_fingerprint(loaded, getattr(cfg, "model", None)) if starts_from_recipe_model else None,
        "seed": recipe.seed,
        "code": stage_code(kind),
        "machine": machine if measures_speed(cfg) else None,
    }
    # what a config reads from outside itself (environment variables it names, other stages' settings it
    # depends on): added only when there is some, so every other stage keeps its key
    context = cfg.key_context(recipe) if hasattr(cfg, "key_context") else None
    if context:
        fields["context"] = context
    hub = hub_models(cfg, kind, inputs, loaded) if hub is None else hub
    if hub:  # added only when there is some, like context
        fields["hub"] = hub
    return hash_obj(fields)


def measures_speed(cfg: StageConfig) -> bool:
    # prefer_faster: the quantize stages keep the float model when INT8 measures slower *on this machine*;
    # round_to auto: the prune stage keeps the channel rounding that measures fastest on this machine
    return bool(getattr(cfg, "prefer_faster", False)) or getattr(cfg, "round_to", None) == "auto"


def content_hash(art: Artifact) -> str:
    return hash_obj({name: f["sha256"] for name, f in art.manifest["files"].items()})
