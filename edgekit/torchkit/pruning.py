"""The one adapter over torch-pruning: structured pruning that physically removes channels and heads.

    model = prune(model, example, PruneSettings(target="macs", ratio=0.5))   # half the MACs gone

torch-pruning's dependency graph finds every layer coupled to a channel (residual adds, concatenation,
depthwise and grouped convs, BatchNorm/LayerNorm, attention heads) and removes the channel everywhere.
Its ``pruning_ratio`` is a *channel* ratio; a MACs or parameter target is reached here by searching that
ratio on copies of the model and measuring each copy with ``tp.utils.count_ops_and_params``, so the
reported reduction is measured, not predicted. ``steps > 1`` reaches the target in equal slices of the
target quantity, with an optional ``between(model, step)`` hook (recovery fine-tuning) after each slice
but the last.
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from edgekit.errors import InputError
from edgekit.torchkit.importance import IMPORTANCE, make as importance
from edgekit.torchkit.reshape import sync_hf_config

TARGETS = ("channels", "macs", "params")
_SEARCH_TOLERANCE = 0.004  # channel-ratio resolution of the MACs/params search
_GOAL_SLACK = 0.01  # a result within 1 % below the goal is close enough
_MAX_TRIALS = 12


class PruneError(InputError):
    """A pruning request that cannot be met; ``key`` is the stage setting to blame (None: the stage)."""

    def __init__(self, key: str | None, message: str):
        super().__init__(message)
        self.key = key


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


@dataclass
class PruneResult:
    model: nn.Module
    macs: tuple[int, int]  # before, after (per sample)
    params: tuple[int, int]
    layers: dict[str, tuple[int, int]]  # prunable layer -> output width before, after
    ignored: list[str] = field(default_factory=list)


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


def _attention(model: nn.Module) -> dict[nn.Module, int]:
    """Head counts torch-pruning must respect: BERT-style self-attention and nn.MultiheadAttention."""
    heads: dict[nn.Module, int] = {}
    for m in model.modules():
        if isinstance(m, nn.MultiheadAttention):
            heads[m] = m.num_heads
        elif hasattr(m, "num_attention_heads") and all(
            isinstance(getattr(m, k, None), nn.Linear) for k in ("query", "key", "value")
        ):
            for k in ("query", "key", "value"):
                heads[getattr(m, k)] = m.num_attention_heads
    return heads


def _fix_attention(model: nn.Module, num_heads: dict[nn.Module, int]) -> None:
    """torch-pruning shrinks q/k/v; the attention module's own bookkeeping must follow."""
    for m in model.modules():
        q = getattr(m, "query", None)
        if hasattr(m, "num_attention_heads") and q in num_heads:
            m.num_attention_heads = num_heads[q]
            m.attention_head_size = q.out_features // m.num_attention_heads
            m.all_head_size = q.out_features
            if hasattr(m, "scaling"):
                m.scaling = m.attention_head_size**-0.5


def _logits(out):
    return getattr(out, "logits", out)


def _keep_one_head(score: Callable, heads: dict[nn.Module, int], is_out: Callable) -> Callable:
    """``score`` with each attention layer's best head ranked above every other head.

    Global scope ranks heads model-wide with one threshold, so a layer whose heads all rank low loses every
    head (``num_attention_heads`` 0: a division by zero, or a layer that passes nothing). The head ratio is
    capped at 1 - 1/heads, so the heads removed never reach one per layer: the raised ones always stay."""

    def scores(group):
        imp = score(group)
        # the group of q/k/v outputs (rooted at any of its layers, e.g. the attention output's inputs)
        n = next(
            (heads[dep.target.module] for dep, _ in group if dep.target.module in heads and is_out(dep.handler)), None
        )
        if imp is None or not n or len(imp) % n:
            return imp
        per_head = imp.view(n, -1)  # (heads, head_dim): torch-pruning ranks heads by this row mean
        imp = imp.clone()
        imp.view(n, -1)[per_head.mean(1).argmax()] = float("inf")
        return imp

    return scores


def _prune_once(model: nn.Module, example: torch.Tensor, s: PruneSettings, ratio: float, ignored: list[str]) -> None:
    """One torch-pruning step at channel ``ratio`` (relative to the model as it is now), in place."""
    import torch_pruning as tp

    torch.manual_seed(s.seed)  # `random` importance and tie-breaking repeat exactly across trials
    named = dict(model.named_modules())
    heads = _attention(model)
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
            pruner.importance = _keep_one_head(pruner.importance, heads, pruner.DG.is_out_channel_pruning_fn)
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
    _fix_attention(model, pruner.num_heads)
    check_runs(model, example)


def blocking_op(err: BaseException, model: nn.Module) -> str | None:
    """Where in the model torch-pruning's dependency graph broke, in words ("op ViewBackward0 after module
    'stage2.0.branch2.7' (ReLU)"), from the innermost graph node on the error's traceback; None if none is there."""
    node, tb = None, err.__traceback__
    while tb is not None:  # innermost frame last: it holds the node being processed when the error was raised
        for var in ("reshape_node", "node"):
            cand = tb.tb_frame.f_locals.get(var)
            if hasattr(cand, "grad_fn") and hasattr(cand, "inputs") and hasattr(cand, "module"):
                node = cand
                break
        tb = tb.tb_next
    if node is None:
        return None
    names = {m: n for n, m in model.named_modules() if n}
    op = type(node.grad_fn).__name__ if node.grad_fn is not None else type(node.module).__name__
    if "View" in op or "Reshape" in op:
        op += " (a reshape across the channel axis, e.g. a channel shuffle)"
    if node.module in names:
        return f"module '{names[node.module]}' ({type(node.module).__name__})"
    queue, seen = list(node.inputs), set()
    while queue:  # the nearest named module upstream of the op
        n = queue.pop(0)
        if id(n) in seen:
            continue
        seen.add(id(n))
        if n.module in names:
            return f"op {op} after module '{names[n.module]}' ({type(n.module).__name__})"
        queue += n.inputs
    return f"op {op}"


def check_runs(model: nn.Module, example: torch.Tensor, pruned: bool = True) -> None:
    """Run the model once; a failure names the module whose forward broke."""
    current: list[str] = []
    hooks = [
        m.register_forward_pre_hook(lambda mod, args, n=n: current.append(n)) for n, m in model.named_modules() if n
    ]
    try:
        with torch.no_grad():
            model.eval()(example)
    except (RuntimeError, ValueError, IndexError) as e:
        where = current[-1] if current else "the model"
        kind = type(model.get_submodule(where)).__name__ if current else type(model).__name__
        why = str(e).splitlines()[0][:160]
        if not pruned:
            raise PruneError(
                None, f"the model fails on the data before pruning, in module '{where}' ({kind}): {why}"
            ) from e
        raise PruneError(
            "ignore",
            f"torch-pruning cannot handle module '{where}' ({kind}): the pruned model breaks "
            f"there ({why}); add its producer to ignore:",
        ) from e
    finally:
        for h in hooks:
            h.remove()


def _measure(model: nn.Module, example: torch.Tensor, target: str) -> int:
    macs, params = count(model, example)
    return macs if target == "macs" else params


def _search(model: nn.Module, example, s: PruneSettings, ignored: list[str], goal: int, base: int) -> nn.Module:
    """The least-pruned copy whose measured MACs/params are at most ``goal``.

    Searches the channel ratio r by regula falsi on sqrt(value): a conv's MACs and parameters scale with
    (1 - r)^2, so sqrt(value) is nearly linear in r and 2-4 trials usually land within 1 % of the goal."""
    before = widths(model)

    def trial(r: float) -> tuple[nn.Module, int, bool]:
        """(pruned copy, its MACs/params, whether every layer kept its max_layer_ratio)."""
        m = copy.deepcopy(model)
        for src, dst in zip(model.parameters(), m.parameters()):  # deepcopy drops .grad; Taylor needs it
            dst.grad = None if src.grad is None else src.grad.clone()
        _prune_once(m, example, s, r, ignored)
        # torch-pruning rounds a layer's kept width *down* to round_to after applying its max ratio, so a rounded
        # layer can lose more than max_layer_ratio (256 channels at 0.9 keep 25.6 -> 16): such a copy is too far
        ok = not s.round_to or all(
            w >= int(before[n] * (1 - s.max_layer_ratio)) for n, w in widths(m).items() if n in before
        )
        return m, _measure(m, example, s.target), ok

    hi = s.max_layer_ratio
    best, v_hi, ok = trial(hi)
    if (v_hi > goal or not ok) and s.round_to:
        # with rounding, MACs stop falling with the ratio (small layers rounded to zero are left unpruned) and high
        # ratios break max_layer_ratio: look for a reachable, valid ratio below
        for r in (0.8, 0.7, 0.6, 0.5, 0.4, 0.3):
            if r < hi:
                m, v, good = trial(r)
                if v <= goal and good:
                    best, v_hi, hi, ok = m, v, r, True
                    break
    if v_hi > goal or not ok:
        what = "MACs" if s.target == "macs" else "parameters"
        most = f"at most {1 - v_hi / base:.1%}" if ok else "not"
        raise PruneError(
            "ratio",
            f"cannot remove {s.ratio:.0%} of the {what}: {most} with max_layer_ratio "
            f"{s.max_layer_ratio}{f', round_to {s.round_to}' if s.round_to else ''} and "
            f"{len(ignored)} ignored layer(s)",
        )
    lo, v_lo = 0.0, _measure(model, example, s.target)
    for _ in range(_MAX_TRIALS):
        if hi - lo <= _SEARCH_TOLERANCE or v_hi >= goal * (1 - _GOAL_SLACK):
            break
        y_lo, y_hi, y = v_lo**0.5, v_hi**0.5, goal**0.5
        r = lo + (y_lo - y) / max(y_lo - y_hi, 1e-12) * (hi - lo)
        r = min(max(r, lo + 0.05 * (hi - lo)), hi - 0.05 * (hi - lo))  # stay inside the bracket, keep shrinking it
        m, v, good = trial(r)
        if v <= goal and good:
            best, hi, v_hi = m, r, v
        elif v <= goal:  # reached the goal only by over-pruning a layer: the answer lies below r
            hi = r
        else:
            lo, v_lo = r, v
    return best


def prune(
    model: nn.Module,
    example: torch.Tensor,
    s: PruneSettings,
    grad_fn: Callable[[nn.Module], None] | None = None,
    between: Callable[[nn.Module, int], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> PruneResult:
    """Prune ``model`` (it may be replaced by a pruned copy: use ``result.model``).

    ``example``: a real input batch (B >= 1) for tracing. ``grad_fn(model)`` fills ``.grad`` (needed by
    Taylor importance). ``between(model, step)`` runs after every step but the last (recovery)."""
    if s.importance not in IMPORTANCE:
        raise PruneError("importance", f"unknown importance '{s.importance}'; choose one of {', '.join(IMPORTANCE)}")
    if s.target not in TARGETS:
        raise PruneError("target", f"unknown target '{s.target}'; choose one of {', '.join(TARGETS)}")
    if not 0 < s.ratio < 1:
        raise PruneError("ratio", f"must be between 0 and 1 (exclusive), got {s.ratio}")
    model.eval()
    ignored = resolve_ignored(model, s.ignore, s.ignore_classifier)
    check_runs(model, example, pruned=False)
    macs0, params0 = count(model, example)
    widths0 = widths(model)
    base = {"macs": macs0, "params": params0}.get(s.target)
    for step in range(1, s.steps + 1):
        done = s.ratio * step / s.steps  # share of the target removed after this step
        if s.importance == "taylor":
            if grad_fn is None:
                raise PruneError("importance", "taylor importance needs gradients from data, none given")
            model.zero_grad(set_to_none=True)
            grad_fn(model)
        if s.target == "channels":
            # torch-pruning's ratio is relative to the current widths: convert the cumulative schedule
            prev = s.ratio * (step - 1) / s.steps
            _prune_once(model, example, s, 1 - (1 - done) / (1 - prev), ignored)
        else:
            model = _search(model, example, s, ignored, int(base * (1 - done)), base)
        model.zero_grad(set_to_none=True)
        if log:
            macs, params = count(model, example)
            log(f"step {step}/{s.steps}: MACs {macs / macs0:.1%}, params {params / params0:.1%} of the original")
        if between is not None and step < s.steps:
            between(model, step)
    sync_hf_config(model)
    macs1, params1 = count(model, example)
    after = widths(model)
    layers = {n: (w, after[n]) for n, w in widths0.items() if n in after}
    return PruneResult(model.eval(), (macs0, macs1), (params0, params1), layers, ignored)
