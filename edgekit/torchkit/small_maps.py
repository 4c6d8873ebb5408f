"""Exact, faster CPU training of convolutions on tiny feature maps (an ImageNet CNN fed small images).

ResNet-18 on 28x28 inputs ends on 2x2 and 1x1 maps, where oneDNN (torch's CPU conv backend) does badly:
- on a 1x1 map a 3x3 convolution multiplies padding with 8 of its 9 taps, and computes them anyway;
- without AVX-512 its weight gradient falls back to one small GEMM per image: 0.2 s per 1x1-map layer for
  a batch of 128 on an AVX2 CPU (half the training step), 3x the forward pass on 2x2 maps.
Within ``fast_small_map_convs`` plain Conv2d layers cut the taps that only read padding (their gradient is
zero either way), and on maps of at most 2x2 compute the weight gradient as one convolution over the
batch (input and output gradient with batch and channels swapped), which oneDNN runs at forward speed.
Same math: the modules, their weights and the exported graph are unchanged.
"""

from __future__ import annotations

import types
from contextlib import contextmanager
from functools import lru_cache

import torch
from torch import nn
from torch.nn import functional as F

SMALL_MAP = 4  # output pixels at or below which the weight gradient is computed as a convolution


def _out_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


@lru_cache(maxsize=1024)
def live_taps(size: int, kernel: int, stride: int, pad: int, dilation: int) -> tuple[int, int, int, int]:
    """(first live tap, live kernel length, new padding, output size) along one axis; the full kernel when
    cutting cannot keep the output size with symmetric padding."""
    out = _out_size(size, kernel, stride, pad, dilation)
    live = [j for j in range(kernel) if any(0 <= i * stride - pad + j * dilation < size for i in range(out))]
    if not live:
        return 0, kernel, pad, out
    first, length = live[0], live[-1] - live[0] + 1
    new_pad = pad - first * dilation
    if new_pad < 0 or _out_size(size, length, stride, new_pad, dilation) != out:
        return 0, kernel, pad, out
    return first, length, new_pad, out


class _SmallMapConv(torch.autograd.Function):
    """conv2d (groups=1, dilation 1) whose weight gradient is itself a convolution:
    grad_w[o, c] = conv2d(x as (C, B, H, W), grad_out as (O, B, Ho, Wo), dilation=stride)."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        ctx.save_for_backward(x, weight)
        ctx.conv = stride, padding, bias is not None
        return F.conv2d(x, weight, bias, stride, padding)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        stride, padding, has_bias = ctx.conv
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(
                grad, x, weight, None, stride, padding, (1, 1), False, (0, 0), 1, (True, False, False)
            )[0]
        kh, kw = weight.shape[-2:]
        grad_w = F.conv2d(x.transpose(0, 1), grad.transpose(0, 1), None, 1, padding, stride)[:, :, :kh, :kw]
        grad_w = torch.empty_like(weight).copy_(grad_w.transpose(0, 1))  # in the weight's memory format
        return grad_x, grad_w, grad.sum((0, 2, 3)) if has_bias else None, None, None


def _conv_forward(self: nn.Conv2d, x, weight, bias):
    (h0, kh, ph, oh), (w0, kw, pw, ow) = (
        live_taps(x.shape[d], weight.shape[d], self.stride[i], self.padding[i], self.dilation[i])
        for i, d in ((0, -2), (1, -1))
    )
    if (kh, kw) != tuple(weight.shape[-2:]):
        weight = weight[:, :, h0 : h0 + kh, w0 : w0 + kw]
    # the weight-gradient rewrite was measured against oneDNN (CPU) only: GPUs keep their own kernels
    if (
        oh * ow <= SMALL_MAP
        and kh * kw > 1
        and self.groups == 1
        and self.dilation == (1, 1)
        and x.is_cpu
        and torch.is_grad_enabled()
        and weight.requires_grad
    ):
        return _SmallMapConv.apply(x, weight, bias, self.stride, (ph, pw))
    return F.conv2d(x, weight, bias, self.stride, (ph, pw), self.dilation, self.groups)


@contextmanager
def fast_small_map_convs(*models: nn.Module):
    """Within the block, plain zero-padded Conv2d layers of ``models`` train fast on tiny maps (see above)."""
    convs = dict.fromkeys(
        m
        for model in models
        for m in model.modules()  # a layer shared by two models: once
        if type(m) is nn.Conv2d and m.padding_mode == "zeros" and not isinstance(m.padding, str)
    )
    for m in convs:
        m._conv_forward = types.MethodType(_conv_forward, m)
    try:
        yield
    finally:
        for m in convs:
            del m._conv_forward
