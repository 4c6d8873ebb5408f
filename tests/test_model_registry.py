"""Every model family a user may name survives edgekit's save -> load round trip (safetensors + model.json, no pickle)
with identical outputs: a trained model that cannot be reloaded fails every stage after training."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from edgekit.torchkit.models import build_model, load_model, save_model  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")  # conftest.py

# the smallest member of each torchvision classification family that takes small inputs, and edgekit's own; the
# families that check module versions on load (MNASNet) are the ones a plain load_state_dict breaks
FAMILIES = {
    "torchvision:resnet18": 32,
    "torchvision:mobilenet_v2": 32,
    "torchvision:mobilenet_v3_small": 32,
    "torchvision:mnasnet0_5": 32,
    "torchvision:mnasnet1_0": 32,
    "torchvision:efficientnet_b0": 32,
    "torchvision:shufflenet_v2_x0_5": 32,
    "torchvision:squeezenet1_1": 32,
    "torchvision:regnet_y_400mf": 32,
    "torchvision:densenet121": 32,
    "torchvision:googlenet": 32,
    "edgekit:resnet-small": 16,
    "edgekit:efficientnet-lite0": 32,
}


@pytest.mark.parametrize("source", list(FAMILIES))
def test_save_load_round_trip(source, tmp_path):
    side = FAMILIES[source]
    spec = {"source": source, "weights": None, "num_classes": 7, "in_channels": 1}
    torch.manual_seed(0)
    model = build_model(spec, 7, 1).eval()
    with torch.no_grad():
        for p in model.parameters():  # away from the initialisation, so a load that silently kept it would show
            p.add_(0.01 * torch.randn_like(p))
    save_model(model, tmp_path, spec)
    loaded, meta = load_model(tmp_path)
    x = torch.randn(2, 1, side, side, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert meta["spec"] == spec
