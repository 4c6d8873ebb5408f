"""The tiny-map training path (cut padding taps, weight gradient as a convolution) must not change a
convolution's output or gradients."""

import itertools

import pytest
import torch
from torch import nn

from edgekit.torchkit.small_maps import fast_small_map_convs, live_taps


def test_live_taps_of_a_3x3_kernel():
    assert live_taps(1, 3, 1, 1, 1) == (1, 1, 0, 1)  # 1x1 map: only the centre tap reads data
    assert live_taps(2, 3, 2, 1, 1) == (1, 2, 0, 1)  # 2x2 map, stride 2: one output, the lower-right 2x2 taps
    assert live_taps(2, 3, 1, 1, 1) == (0, 3, 1, 2)  # every tap reads data somewhere: kernel kept
    assert live_taps(28, 7, 2, 3, 1) == (0, 7, 3, 14)


@pytest.mark.parametrize(
    "size,kernel,stride,pad,dilation",
    [
        c
        for c in itertools.product([1, 2, 3, 5], [1, 3, 5, 7], [1, 2, 3], [0, 1, 2, 3], [1, 2])
        if (c[0] + 2 * c[3] - c[4] * (c[1] - 1) - 1) >= 0
    ],
)
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_same_output_and_gradients(size, kernel, stride, pad, dilation, layout):
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, kernel, stride, pad, dilation).to(memory_format=layout)
    x = torch.randn(3, 4, size, size).to(memory_format=layout).requires_grad_()
    grads = []
    for cut in (False, True):
        conv.zero_grad()
        x.grad = None
        if cut:
            with fast_small_map_convs(conv):
                y = conv(x)
        else:
            y = conv(x)
        (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
        grads.append((y.detach(), x.grad.clone(), conv.weight.grad.clone(), conv.bias.grad.clone()))
    for plain, fast in zip(*grads):
        torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-5)
    assert conv.weight.grad.stride() == conv.weight.stride()  # the optimizer sees the weight's own layout


def test_the_model_is_left_as_it_was():
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, padding_mode="reflect")
    )
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with fast_small_map_convs(model):
        assert "_conv_forward" in vars(model[0])
        assert "_conv_forward" not in vars(model[2])  # reflect padding reads real pixels: left alone
    assert "_conv_forward" not in vars(model[0])
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_tiny_maps_take_the_fast_weight_gradient():
    conv = nn.Conv2d(8, 8, 3, padding=1)
    with fast_small_map_convs(conv):
        assert type(conv(torch.randn(2, 8, 2, 2)).grad_fn).__name__ == "_SmallMapConvBackward"
        assert type(conv(torch.randn(2, 8, 7, 7)).grad_fn).__name__ != "_SmallMapConvBackward"
        with torch.no_grad():
            assert conv(torch.randn(2, 8, 1, 1)).grad_fn is None
