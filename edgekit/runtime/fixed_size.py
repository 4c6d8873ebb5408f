"""An exact ONNX graph pass for models whose spatial input size is fixed: drop the work that only ever reads padding.

    report = crop_padding_taps(model)      # onnx.ModelProto, changed in place
    report.macs_removed, report.convs_cropped

A 28x28 image through ResNet-18's stem becomes a 7x7 map, then 4x4, 2x2 and 1x1. A 3x3 conv with padding 1 on a
1x1 map multiplies eight of its nine taps by padding zeros: the result equals a 1x1 conv with the centre tap. In
general, along each spatial axis only taps ``k`` with ``0 <= o*stride - pad_begin + k*dilation < size`` for some
output ``o`` ever touch real input; the kernel is cropped to that contiguous range and the pads shrunk so every
remaining tap reads exactly what it read before. Nothing is approximated (the export stage's parity check runs on
the result). ONNX Runtime cannot do this itself: it optimises for any input size the graph accepts.

Also removed: a GlobalAveragePool whose input is already 1x1 (it copies its input). BatchNorm, bias and ReLU
folding is left to ONNX Runtime's own session optimiser, which does it on every load.
Torch-free: onnx and numpy only."""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

import numpy as np


@dataclass
class CropReport:
    convs_cropped: int = 0
    macs_removed: int = 0  # per sample
    pools_removed: int = 0
    kernels: dict[str, tuple[list[int], list[int]]] = field(default_factory=dict)  # node -> (kernel before, after)


def used_taps(size: int, kernel: int, stride: int, dilation: int, pad_begin: int, pad_end: int) -> tuple[int, int, int]:
    """(first tap, last tap, outputs) along one axis: the taps that read real input for at least one output."""
    out = (size + pad_begin + pad_end - dilation * (kernel - 1) - 1) // stride + 1
    used = [k for k in range(kernel) if any(0 <= o * stride - pad_begin + k * dilation < size for o in range(out))]
    if not used:  # every tap reads padding only (the output is the bias): keep the conv as it is
        return 0, kernel - 1, out
    return used[0], used[-1], out


def _crop_axis(
    size: int, kernel: int, stride: int, dilation: int, pb: int, pe: int
) -> tuple[int, int, int, int] | None:
    """(first tap, new kernel, new pad_begin, new pad_end) or None when this axis stays as it is."""
    first, last, out = used_taps(size, kernel, stride, dilation, pb, pe)
    k = last - first + 1
    if k == kernel:
        return None
    new_pb = pb - first * dilation
    new_pe = (out - 1) * stride + dilation * (k - 1) + 1 - size - new_pb  # the least end pad that keeps `out` outputs
    if new_pb < 0 or new_pe < 0:  # would need negative padding (a slice); rare, and not worth a Slice node
        return None
    return first, k, new_pb, new_pe


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _set_attr(node, name: str, value) -> None:
    import onnx

    for i, a in enumerate(node.attribute):
        if a.name == name:
            del node.attribute[i]
            break
    node.attribute.append(onnx.helper.make_attribute(name, value))


def _shapes(model) -> dict[str, list[int | None]]:
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    out = {}
    for vi in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        t = vi.type.tensor_type
        if t.HasField("shape"):
            out[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    return out


def crop_padding_taps(model) -> CropReport:
    """Crop every float Conv's kernel to the taps that can touch real input, in place; see the module docstring."""
    from onnx import numpy_helper

    g = model.graph
    shapes = _shapes(model)
    inits = {t.name: t for t in g.initializer}
    uses: dict[str, int] = {}
    for n in g.node:
        for i in n.input:
            uses[i] = uses.get(i, 0) + 1
    report = CropReport()
    for node in g.node:
        if node.op_type != "Conv" or len(node.input) < 2 or node.input[1] not in inits:
            continue
        x, y = shapes.get(node.input[0]), shapes.get(node.output[0])
        a = _attrs(node)
        if (
            x is None
            or y is None
            or len(x) < 3
            or any(d is None for d in x[2:])
            or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")
        ):
            continue
        w = numpy_helper.to_array(inits[node.input[1]])
        if w.dtype.kind != "f":
            continue
        nd = w.ndim - 2
        strides, dil = a.get("strides", [1] * nd), a.get("dilations", [1] * nd)
        pads = list(a.get("pads", [0] * 2 * nd))
        slices, kernel, changed = [], list(w.shape[2:]), False
        for i in range(nd):
            c = _crop_axis(x[2 + i], w.shape[2 + i], strides[i], dil[i], pads[i], pads[nd + i])
            if c is None:
                slices.append(slice(None))
                continue
            first, k, pads[i], pads[nd + i] = c
            slices.append(slice(first, first + k))
            kernel[i], changed = k, True
        if not changed:
            continue
        cropped = np.ascontiguousarray(w[(slice(None), slice(None), *slices)])
        name = node.input[1]
        if uses[name] > 1:  # a shared weight keeps its other readers: this node gets its own copy
            name = f"{name}__cropped_{report.convs_cropped}"
            node.input[1] = name
            g.initializer.append(numpy_helper.from_array(cropped, name))
        else:
            inits[name].CopyFrom(numpy_helper.from_array(cropped, name))
            _forget_shape(g, name)
        _set_attr(node, "kernel_shape", kernel)
        _set_attr(node, "pads", pads)
        outputs = prod(d for d in y[2:] if d)  # per sample and output channel
        report.macs_removed += int(outputs * w.shape[0] * w.shape[1] * (prod(w.shape[2:]) - prod(kernel)))
        report.kernels[node.name or name] = (list(w.shape[2:]), kernel)
        report.convs_cropped += 1
    report.pools_removed = _drop_unit_global_pools(model, shapes)
    _drop_unused_initializers(g)  # a shared weight whose readers all got cropped copies; a dropped mean's axes
    return report


def _forget_shape(g, name: str) -> None:
    """Drop a recorded shape of ``name`` (the exporter records initializer shapes too): it is stale now."""
    for vi in list(g.value_info):
        if vi.name == name:
            g.value_info.remove(vi)


UNIT_POOLS = ("GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax")


def _drop_unit_global_pools(model, shapes) -> int:
    """A global pool (or spatial ReduceMean/Max with keepdims) over a map that is already 1x1 copies its input:
    rewire its readers past it. Equal, fully known input and output shapes prove every reduced axis is 1."""
    g = model.graph
    outputs = {o.name for o in g.output}
    dropped = []
    for node in g.node:
        x = shapes.get(node.input[0]) if node.input else None
        y = shapes.get(node.output[0])
        if (
            node.op_type in UNIT_POOLS
            and x
            and len(x) > 2
            and all(d is not None for d in x[1:])
            and x == y
            and node.output[0] not in outputs
        ):
            dropped.append(node)
    for node in dropped:
        src, dst = node.input[0], node.output[0]
        for other in g.node:
            for i, name in enumerate(other.input):
                if name == dst:
                    other.input[i] = src
        g.node.remove(node)
    return len(dropped)


def _drop_unused_initializers(g) -> None:
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    for t in [t for t in g.initializer if t.name not in used]:
        g.initializer.remove(t)
