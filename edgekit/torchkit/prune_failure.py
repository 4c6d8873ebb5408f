"""Why torch-pruning could not prune a model, in words a recipe author can act on: the error type with the stage
setting to blame, where the dependency graph broke, and which module a pruned model breaks in.

    raise PruneError("ignore", f"... breaks at {blocking_op(e, model)} ...")
"""

from __future__ import annotations

import torch
from torch import nn

from edgekit.errors import InputError


class PruneError(InputError):
    """A pruning request that cannot be met; ``key`` is the stage setting to blame (None: the stage)."""

    def __init__(self, key: str | None, message: str):
        super().__init__(message)
        self.key = key


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
