"""Attention-head surgery around torch-pruning: which layers carry heads, the bookkeeping a pruned attention
module must follow, and a ranking that never removes a layer's last head.

    heads = attention_heads(model)     # {q/k/v Linear or nn.MultiheadAttention: number of heads}
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn


def attention_heads(model: nn.Module) -> dict[nn.Module, int]:
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


def fix_attention(model: nn.Module, num_heads: dict[nn.Module, int]) -> None:
    """torch-pruning shrinks q/k/v; the attention module's own bookkeeping must follow."""
    for m in model.modules():
        q = getattr(m, "query", None)
        if hasattr(m, "num_attention_heads") and q in num_heads:
            m.num_attention_heads = num_heads[q]
            m.attention_head_size = q.out_features // m.num_attention_heads
            m.all_head_size = q.out_features
            if hasattr(m, "scaling"):
                m.scaling = m.attention_head_size**-0.5


def keep_one_head(score: Callable, heads: dict[nn.Module, int], is_out: Callable) -> Callable:
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
