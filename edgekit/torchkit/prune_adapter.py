"""The one adapter over torch-pruning: settings, counting, and one pruning step that removes channels for real.

    prune_once(model, example, PruneSettings(ratio=0.3), 0.3, ignored=["fc"])   # in place, channel ratio 0.3

torch-pruning's dependency graph finds every layer coupled to a channel (residual adds, concatenation,
depthwise and grouped convs, BatchNorm/LayerNorm, attention heads) and removes the channel everywhere.
Its ``pruning_ratio`` is a *channel* ratio relative to the model as it is; targets in MACs or parameters are
edgekit.torchkit.prune_search's job.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import torch
from torch import nn

from edgekit.torchkit.importance import make as importance
from edgekit.torchkit.prune_failure import PruneError, blocking_op, check_runs
from edgekit.torchkit.prune_heads import attention_heads, fix_attention, keep_one_head

TARGETS = ("channels", "macs", "params")


@dataclass(frozen=True)
class PruneSettings:
    target: str = "macs"  # what `ratio` removes: "channels", "macs" or "params"
    ratio: float = 0.5  # share of the target quantity to remove, 0 < ratio < 1
    importance: str = "l2"
    scope: str = "layer"  # "layer": every layer loses the same share; "global": rank channels model-wide
    steps: int = 1
    round_to: int | None = None  # keep channel counts multiples of this (torch-pruning applies it per channel group)
    max_layer_ratio: float = 0.9  # never remove more than this share of any one layer
    ignore: tuple[str, ...] = ()  # module-name glob patterns left untouched
    ignore_classifier: bool = True
    attention: str = "heads"  # "heads": remove whole heads; "head-dims": shrink every head
    seed: int = 0


def count(model: nn.Module, example: torch.Tensor) -> tuple[int, int]:
    """(MACs, parameters) of one sample's forward pass."""
    import torch_pruning as tp

    was_training = model.training
    with torch.no_grad():
        macs, params = tp.utils.count_ops_and_params(model, example[:1])
    model.train(was_training)
    return int(macs), int(params)


def widths(model: nn.Module) -> dict[str, int]:
    """Output width of every conv and linear layer."""
    out = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            out[name] = m.out_channels
        elif isinstance(m, nn.Linear):
            out[name] = m.out_features
    return out


def classifier(model: nn.Module) -> str | None:
    """The layer that writes the logits: the last linear (else conv) layer registered. Its outputs are classes."""
    layers = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    layers = layers or [n for n, m in model.named_modules() if isinstance(m, nn.modules.conv._ConvNd)]
    return layers[-1] if layers else None


def resolve_ignored(model: nn.Module, patterns: tuple[str, ...], ignore_classifier: bool) -> list[str]:
    """Module names matching the glob patterns (plus the classifier); a pattern matching nothing is an error."""
    names = [n for n, _ in model.named_modules() if n]
    chosen: list[str] = []
    for pat in patterns:
        hits = fnmatch.filter(names, pat)
        if not hits:
            examples = ", ".join(n for n in names if "." not in n)[:200]
            raise PruneError("ignore", f"pattern '{pat}' matches no module (top-level modules: {examples})")
        chosen += [h for h in hits if h not in chosen]
    head = classifier(model) if ignore_classifier else None
    if head and head not in chosen:
        chosen.append(head)
    return chosen


def _logits(out):
    return getattr(out, "logits", out)


def prune_once(model: nn.Module, example: torch.Tensor, s: PruneSettings, ratio: float, ignored: list[str]) -> None:
    """One torch-pruning step at channel ``ratio`` (relative to the model as it is now), in place."""
    import torch_pruning as tp

    torch.manual_seed(s.seed)  # `random` importance and tie-breaking repeat exactly across trials
    named = dict(model.named_modules())
    heads = attention_heads(model)
    by_heads = s.attention == "heads"
    # keep at least one head per attention layer: torch-pruning would remove them all at high ratios
    head_ratio = min(ratio, 1 - 1 / min(heads.values())) if by_heads and heads else 0.0
    try:
        pruner = tp.pruner.BasePruner(
            model,
            example,
            importance=importance(s.importance),
            global_pruning=s.scope == "global",
            pruning_ratio=ratio,
            max_pruning_ratio=s.max_layer_ratio,
            iterative_steps=1,
            ignored_layers=[named[n] for n in ignored],
            round_to=s.round_to,
            # fresh dicts: torch-pruning mutates these arguments and their defaults are shared
            in_channel_groups={},
            out_channel_groups={},
            channel_groups={},
            num_heads=dict(heads),
            prune_num_heads=by_heads and bool(heads),
            prune_head_dims=not by_heads,
            head_pruning_ratio=head_ratio,
            output_transform=_logits,
        )
        if s.scope == "global" and head_ratio > 0:
            pruner.importance = keep_one_head(pruner.importance, heads, pruner.DG.is_out_channel_pruning_fn)
        pruner.step()
    except Exception as e:  # torch-pruning fails on graphs it cannot follow with any of a dozen error types
        where = blocking_op(e, model)
        why = f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:160]}"
        if where is None:
            raise PruneError(None, f"torch-pruning cannot prune this model ({why})") from e
        raise PruneError(
            "ignore",
            f"torch-pruning cannot prune this model: its dependency graph breaks at {where} "
            f"({why}); add the modules around it to ignore:, or prune another architecture",
        ) from e
    fix_attention(model, pruner.num_heads)
    check_runs(model, example)
