"""Pruned architectures as plain JSON: which module shrank to which shape, and how to rebuild it.

A pruned model is stored as ``model.safetensors`` + ``model.json``; ``model.json["pruned"]`` is the
difference between the freshly built architecture and the pruned one::

    {"modules": {"layer1.0.conv1": {"attrs": {"out_channels": 40},
                                    "params": {"weight": [40, 64, 3, 3]}, "buffers": {}}, ...}}

``apply_shapes`` replays it on a fresh build: attributes are set, parameters and buffers are replaced by
empty tensors of the stored shapes, then ``load_state_dict`` fills them from safetensors. No pickle is
involved (torch-pruning's own ``tp.state_dict`` stores module ``__dict__``s, which needs pickle).
Only numeric attributes that the fresh module already has can be set, so the JSON cannot inject code.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgekit.errors import InputError

Shapes = dict[str, Any]


def _numeric(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return True
    return isinstance(v, (tuple, list)) and all(isinstance(i, int) and not isinstance(i, bool) for i in v)


def snapshot(model: nn.Module) -> dict[str, dict[str, dict[str, Any]]]:
    """Per module name: its numeric attributes and the shapes of its own parameters and buffers."""
    out = {}
    for name, m in model.named_modules():
        out[name] = {
            "attrs": {
                k: list(v) if isinstance(v, tuple) else v
                for k, v in vars(m).items()
                if not k.startswith("_") and _numeric(v)
            },
            "params": {k: list(p.shape) for k, p in m.named_parameters(recurse=False)},
            "buffers": {k: list(b.shape) for k, b in m.named_buffers(recurse=False)},
        }
    return out


def diff(reference: nn.Module, pruned: nn.Module) -> Shapes:
    """What ``apply_shapes`` needs to turn ``reference`` (a fresh build) into ``pruned``'s architecture."""
    before, after = snapshot(reference), snapshot(pruned)
    modules = {}
    for name, now in after.items():
        was = before.get(name)
        if was is None:
            raise ValueError(f"module '{name}' exists only in the pruned model; pruning must not add modules")
        changed = {
            "attrs": {k: v for k, v in now["attrs"].items() if was["attrs"].get(k) != v},
            "params": {k: v for k, v in now["params"].items() if was["params"].get(k) != v},
            "buffers": {k: v for k, v in now["buffers"].items() if was["buffers"].get(k) != v},
        }
        if any(changed.values()):
            modules[name] = changed
    return {"modules": modules}


def apply_shapes(model: nn.Module, pruned: Shapes) -> nn.Module:
    """Reshape a fresh build in place to the stored pruned architecture; weights are loaded afterwards."""
    named = dict(model.named_modules())
    for name, change in pruned.get("modules", {}).items():
        m = named.get(name)
        if m is None:
            raise InputError(f"model.json: the pruned shapes name module '{name}', which this architecture lacks")
        for k, v in change.get("attrs", {}).items():
            old = vars(m).get(k)
            if old is None or not _numeric(old) or not _numeric(v):
                raise InputError(
                    f"model.json: pruned attribute '{name}.{k}' is not a numeric attribute of {type(m).__name__}"
                )
            setattr(m, k, tuple(v) if isinstance(old, tuple) else v)
        for k, shape in change.get("params", {}).items():
            p = m._parameters.get(k)
            if p is None:
                raise InputError(f"model.json: {type(m).__name__} '{name}' has no parameter '{k}'")
            m._parameters[k] = nn.Parameter(torch.empty(shape, dtype=p.dtype), requires_grad=p.requires_grad)
        for k, shape in change.get("buffers", {}).items():
            b = m._buffers.get(k)
            if b is None:
                raise InputError(f"model.json: {type(m).__name__} '{name}' has no buffer '{k}'")
            m._buffers[k] = torch.empty(shape, dtype=b.dtype)
    sync_hf_config(model)
    return model


def sync_hf_config(model: nn.Module) -> None:
    """Make a Hugging Face model's config tell the truth about its pruned widths.

    Forward passes read the attention modules' own attributes, not the config, but a config saved with
    ``save_pretrained`` would otherwise describe the unpruned model. Per-layer widths that differ stay
    in the modules; the config only gets values shared by every layer."""
    config = next(
        (m.config for m in model.modules() if hasattr(getattr(m, "config", None), "num_attention_heads")), None
    )
    if config is None:
        return
    heads = {
        m.num_attention_heads for m in model.modules() if hasattr(m, "num_attention_heads") and hasattr(m, "query")
    }
    if len(heads) == 1:
        config.num_attention_heads = heads.pop()
    emb = next((m for n, m in model.named_modules() if n.endswith("word_embeddings")), None)
    if isinstance(emb, nn.Embedding):
        config.hidden_size = emb.embedding_dim
    ffn = {m.dense.out_features for n, m in model.named_modules() if n.endswith("intermediate") and hasattr(m, "dense")}
    if len(ffn) == 1:
        config.intermediate_size = ffn.pop()
